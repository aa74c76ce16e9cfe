"""Rehearsing a plan against a station that plays a recorded run back, in a process of its own.

`run_rehearsal` starts ``python -m acq.rehearsal`` with Channel Access on a free port of its
own: a Channel Access client reads its server port once, when it starts, and the caller may
already be the client of another station on the usual one. In that process `rehearse` starts
the playback IOCs (`acq.playback_station`), builds the station's devices from the config
(`acq.station`), runs the plan on a RunEngine streaming to Tiled (`acq.engine`) and reports
the new runs' uids, or the error that stopped the plan, in a JSON result file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ophyd import Device

import plans

from .child_process import log_tail
from .config import parse_config
from .engine import make_run_engine
from .playback_station import PlaybackStationProcess, channel_access_environment, free_ca_port
from .station import Station, build_station, connect_station
from .tiled_service import connect

#: Plan arguments that name station devices (`plans.metadata` records devices by name).
DEVICE_ARGUMENTS = frozenset({"press", "potentiostat", "stage", "detector",
                              "position_compare", "detectors"})


class RehearsalError(RuntimeError):
    """A rehearsal that did not complete: the plan failed, a device was missing, or its
    documents did not reach Tiled."""


@dataclass(frozen=True)
class Rehearsal:
    """What a rehearsal needs, as plain data (handed to its process as JSON).

    Attributes
    ----------
    config
        The station config, as ``StationConfig.model_dump(mode="json")`` gives it.
    recording_path
        The recording, as `simulated_devices.recording.Recording.save` wrote it.
    plan_name, plan_args
        A plan of `plans` and its arguments (devices by name).
    md
        Extra start-document metadata of every run.
    preset_MPa
        Stack pressure to reach before the plan, outside any run, MPa (None: none).
    uri, api_key
        The Tiled server the runs stream to (container ``raw``).
    """

    config: dict
    recording_path: str
    plan_name: str
    plan_args: dict
    md: dict
    preset_MPa: float | None
    uri: str
    api_key: str | None


def run_rehearsal(rehearsal: Rehearsal) -> list[str]:
    """Rehearse in a child process with Channel Access on a free port; wait for it.

    Returns
    -------
    list of str
        The uids of the runs the plan made.

    Raises
    ------
    RehearsalError
        With the child's error (or its log's tail if it died without one).
    """
    with tempfile.TemporaryDirectory(prefix="ssb-rehearsal-") as directory:
        workdir = Path(directory)
        request, result, log = (workdir / name for name in
                                ("rehearsal.json", "result.json", "rehearsal.log"))
        request.write_text(json.dumps(asdict(rehearsal)))
        with open(log, "w") as output:
            subprocess.run([sys.executable, "-m", "acq.rehearsal", "--rehearsal", str(request),
                            "--result", str(result)],
                           env=channel_access_environment(free_ca_port()), stdout=output,
                           stderr=subprocess.STDOUT, check=False)
        if not result.exists():
            raise RehearsalError(f"the rehearsal process ended without a result:\n"
                                 f"{log_tail(log)}")
        outcome = json.loads(result.read_text())
    if "error" in outcome:
        raise RehearsalError(outcome["error"])
    return outcome["uids"]


def rehearse(rehearsal: Rehearsal) -> list[str]:
    """Run the plan against playback IOCs serving the recording (in the rehearsal process).

    The IOCs serve on the config's PV prefix; the press is brought to ``preset_MPa`` first.

    Returns
    -------
    list of str
        The uids of the runs the plan made, once every document has reached Tiled.

    Raises
    ------
    RehearsalError
        If an argument names a device the station lacks, or documents did not reach Tiled.
    Exception
        Whatever the plan raised (e.g. for a technique the playback refused).
    """
    config = parse_config(rehearsal.config)
    with ExitStack() as stack:
        stack.enter_context(PlaybackStationProcess(config, Path(rehearsal.recording_path)))
        station = build_station(config)
        stack.callback(station.close)
        connect_station(station)
        if rehearsal.preset_MPa is not None:
            station.press.set(rehearsal.preset_MPa).wait(config.press.settle_timeout_s)
        engine = make_run_engine(config, connect(rehearsal.uri, rehearsal.api_key),
                                 press=station.press)
        uids: list[str] = []
        engine.RE.subscribe(lambda name, doc: uids.append(doc["uid"]), "start")
        plan = getattr(plans, rehearsal.plan_name)
        engine.RE(plan(**resolve_devices(rehearsal.plan_args, station), md=rehearsal.md))
        engine.flush()
        if engine.writer.failures:
            raise RehearsalError(f"{engine.writer.failures} documents did not reach Tiled "
                                 f"(kept under {config.station.data_dir / 'backup'})")
        return uids


def resolve_devices(args: dict[str, Any], station: Station) -> dict[str, Any]:
    """``args`` with the device names of `DEVICE_ARGUMENTS` replaced by the station's devices.

    Raises
    ------
    RehearsalError
        If an argument names a device the station does not have.
    """
    devices = station.devices()

    def device(name: str | None) -> Device | None:
        if name is None:
            return None
        if name not in devices:
            raise RehearsalError(f"the plan uses a device {name!r}; the station has "
                                 f"{', '.join(sorted(devices))}")
        return devices[name]

    resolved = {}
    for key, value in args.items():
        if key not in DEVICE_ARGUMENTS:
            resolved[key] = value
        elif isinstance(value, list):
            resolved[key] = [device(name) for name in value]
        else:
            resolved[key] = device(value)
    return resolved


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m acq.rehearsal``: rehearse one request; write its outcome as JSON."""
    parser = argparse.ArgumentParser(prog="python -m acq.rehearsal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rehearsal", type=Path, required=True,
                        help="JSON of a Rehearsal (from run_rehearsal)")
    parser.add_argument("--result", type=Path, required=True,
                        help='written at the end: {"uids": [...]} or {"error": "..."}')
    args = parser.parse_args(argv)
    try:
        outcome = {"uids": rehearse(Rehearsal(**json.loads(args.rehearsal.read_text())))}
    except Exception as error:  # reported to the caller, who raises it with the run's uid
        outcome = {"error": _describe(error)}
    args.result.write_text(json.dumps(outcome))
    return 1 if "error" in outcome else 0


def _describe(error: BaseException | None) -> str:
    """An error and what caused it (a failed status, then the device's reason)."""
    parts = []
    while error is not None:
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__
    return "; caused by ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
