"""Rehearsing a plan against a station that plays a recorded run back, in a process of its own.

`run_rehearsal` starts ``python -m acq.replay.rehearsal`` with Channel Access on a free port
of its own (in place of the config's ``[station] ca_server_port`` and ``ca_repeater_port``):
a Channel Access client reads its server port once, when it starts, and the caller may
already be the client of another station on the config's. In that process
`rehearse` starts the playback IOCs (`acq.services.PlaybackStationProcess`), builds the
station's devices from the config (`acq.beamline`), runs the plan on a RunEngine streaming to
Tiled (`acq.runtime`) and reports the new runs' uids, or the error that stopped the plan, in a
JSON result file.
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

from ..beamline import (
    BadPlanArguments,
    UnknownDevice,
    build_station,
    connect_station,
    station_plans,
)
from ..config import parse_config
from ..runtime.channel_access import loopback_environment
from ..runtime.engine import make_run_engine
from ..runtime.tiled_client import connect
from ..services import PlaybackStationProcess
from ..services.ports import free_channel_access_port


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
        request, result, log = (
            workdir / name for name in ("rehearsal.json", "result.json", "rehearsal.log")
        )
        port = free_channel_access_port()
        station = {
            **rehearsal.config["station"],
            "ca_server_port": port,
            "ca_repeater_port": port + 1,
        }
        config = {**rehearsal.config, "station": station}
        request.write_text(json.dumps({**asdict(rehearsal), "config": config}))
        environment = loopback_environment(port, port + 1)
        with open(log, "w") as output:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    "--rehearsal",
                    str(request),
                    "--result",
                    str(result),
                ],
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if not result.exists():
            tail = "\n".join(log.read_text().splitlines()[-30:])
            raise RehearsalError(f"the rehearsal process ended without a result:\n{tail}")
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
    recording = Path(rehearsal.recording_path)
    with ExitStack() as stack:
        stack.enter_context(
            PlaybackStationProcess(config, recording, recording.with_name("playback_ioc.log"))
        )
        station = build_station(config)
        stack.callback(station.close)
        connect_station(station)
        if rehearsal.preset_MPa is not None:
            station.press.set(rehearsal.preset_MPa).wait(config.press.settle_timeout_s)
        engine = make_run_engine(
            config, connect(rehearsal.uri, rehearsal.api_key), press=station.press
        )
        plan = station_plans()[rehearsal.plan_name]
        try:
            arguments = plan.bind(station, rehearsal.plan_args)
        except (UnknownDevice, BadPlanArguments) as error:
            raise RehearsalError(str(error)) from None
        uids = engine.run(plan.function(**arguments, md=rehearsal.md))
        engine.flush()
        failures = engine.writer.failures if engine.writer is not None else 0
        if failures:
            raise RehearsalError(
                f"{failures} documents did not reach Tiled "
                f"(kept under {config.station.data_dir / 'backup'})"
            )
        return list(uids)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m acq.replay.rehearsal``: rehearse one request; write its outcome as JSON."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rehearsal", type=Path, required=True, help="JSON of a Rehearsal (from run_rehearsal)"
    )
    parser.add_argument(
        "--result",
        type=Path,
        required=True,
        help='written at the end: {"uids": [...]} or {"error": "..."}',
    )
    args = parser.parse_args(argv)
    try:
        request = Rehearsal(**json.loads(args.rehearsal.read_text()))
        outcome: dict[str, Any] = {"uids": rehearse(request)}
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
