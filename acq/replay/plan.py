"""``acq replay UID --plan``: rehearse a recorded run's plan against its own readings.

The run is read back from Tiled (`acq.analysis.raw_run`): the settled load-cell reading at
each setpoint, every spectrum, every half cycle's trace and the CT frames become a
`simulated_devices.recording.Recording`. The station's IOCs then serve it on a fresh PV prefix
and Channel Access port, the station's devices are built from the config as for any run, and
the plan named in the start document is run again with its recorded arguments and
``md={"replay": True, "replay_of": <source uid>}``, streaming to Tiled like any run
(`acq.replay.rehearsal`, in a process of its own). So the real device and plan code meet real data,
offline.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from pathlib import Path
from typing import Any

from conventions.start_keys import EQUIVALENT_PLAN, IMPORT_PLAN_NAME
from simulated_devices.recording import Frames, HalfCycleTrace, PressReading, Recording, Spectrum

from ..analysis.raw_run import (
    RawRunError,
    ct_frames,
    finished_run,
    half_cycles,
    press_readings,
    spectra,
)
from ..beamline import station_plans
from ..config import StationConfig, parse_config
from ..config.station_config import CellSection
from ..runtime.tiled_client import connect, endpoint
from .rehearsal import Rehearsal, RehearsalError, run_rehearsal

logger = logging.getLogger(__name__)

#: Plans that make one run per item of a list argument: (that argument, the start-document
#: key of the item a run is for). A replay of one such run runs that item only.
ONE_RUN_PER_ITEM = {"pressure_series": ("pressures_MPa", "pressure_MPa")}


class ReplayError(RawRunError):
    """A recorded run whose plan cannot be replayed: missing, unreadable, or failing
    against its own readings. The message names the run."""


def replay_plan(config: StationConfig, uid: str | int, uri: str, api_key: str | None) -> list[str]:
    """Replay the plan of raw run ``uid`` against simulated devices that play back its readings.

    Parameters
    ----------
    config
        The station config: frames directory (readable by the Tiled server), limits, time
        scale. Its PV prefix is replaced by a fresh one, its sample and cell by the run's.
    uid
        The raw run: a uid or unique prefix, a scan id, or -N from the latest (see
        `acq.analysis.raw_run.finished_run`).
    uri, api_key
        The Tiled server holding the run in ``raw``; the replay is written there too.

    Returns
    -------
    list of str
        The uids of the replay's runs (start documents with ``replay=True`` and
        ``replay_of`` = the recorded run's uid).

    Raises
    ------
    ReplayError
        If the run is missing, incomplete or unreadable, names no plan this software has,
        or its plan fails against the played-back readings.
    """
    run = finished_run(
        connect(uri, api_key)["raw"], uid, purpose="not replayed", error=ReplayError
    )
    start = run.metadata["start"]
    try:
        plan_name, plan_args = recorded_plan(run)
        recording = read_recording(run)
        replay_station = replay_config(config, start)
    except ReplayError:
        raise
    except Exception as error:  # whatever the reader hit: the run is unreadable
        raise ReplayError(
            f"run {uid}: its recorded readings cannot be read back: "
            f"{type(error).__name__}: {error}"
        ) from error
    with tempfile.TemporaryDirectory(prefix="ssb-replay-") as directory:
        recording_path = Path(directory) / "recording.h5"
        recording.save(recording_path)
        try:
            return run_rehearsal(
                Rehearsal(
                    config=replay_station.model_dump(mode="json"),
                    recording_path=str(recording_path),
                    plan_name=plan_name,
                    plan_args=plan_args,
                    md={"replay": True, "replay_of": start["uid"]},
                    preset_MPa=recording.press[0].setpoint_MPa if recording.press else None,
                    uri=uri,
                    api_key=api_key,
                )
            )
        except RehearsalError as error:
            raise ReplayError(f"replay of run {uid} ({plan_name}) failed: {error}") from error


def recorded_plan(run) -> tuple[str, dict[str, Any]]:
    """The plan a run recorded and the arguments to replay it with (devices by name); for
    a run imported from an instrument file, the plan that measures its data on this station.

    Arguments the plan no longer takes (a run from an earlier version) are left out, with a
    warning; those it does not record take its defaults. A run of a plan that makes one run
    per item (`ONE_RUN_PER_ITEM`) replays its own item.

    Raises
    ------
    ReplayError
        If the start document names no plan of `plans`, or no arguments.
    """
    start = run.metadata["start"]
    name, args = start.get("plan_name"), start.get("plan_args")
    if name == IMPORT_PLAN_NAME:  # from an instrument file (`acq.importing`)
        if EQUIVALENT_PLAN not in start:
            raise ReplayError(
                f"run {start['uid']} was imported from {start.get('source_file')}, whose data "
                f"no plan of this station measures (only a spectrum on an eis_sweep's "
                f"frequencies is replayed)"
            )
        name, args = start[EQUIVALENT_PLAN]["plan_name"], start[EQUIVALENT_PLAN]["plan_args"]
    known = station_plans()
    if name not in known or not isinstance(args, dict):
        raise ReplayError(
            f"run {start['uid']} records no plan this software can replay "
            f"(plan_name {name!r}, plan_args {'present' if args else 'missing'})"
        )
    accepted = known[name].signature.parameters
    dropped = sorted(set(args) - set(accepted))
    if dropped:
        logger.warning(
            "run %s: %s no longer takes %s; replayed without them",
            start["uid"],
            name,
            ", ".join(dropped),
        )
    args = {key: value for key, value in args.items() if key in accepted}
    if name in ONE_RUN_PER_ITEM:
        argument, item = ONE_RUN_PER_ITEM[name]
        if item not in start:
            raise ReplayError(
                f"run {start['uid']} of {name} does not say which of its "
                f"{argument} it ran (start[{item!r}] missing)"
            )
        args[argument] = [start[item]]
    return name, args


def read_recording(run) -> Recording:
    """What ``run`` measured, in the order measured, for the playback IOCs."""
    frames = ct_frames(run)
    return Recording(
        press=tuple(PressReading(*reading) for reading in press_readings(run)),
        spectra=tuple(Spectrum(*spectrum) for spectrum in spectra(run)),
        half_cycles=tuple(
            HalfCycleTrace(
                half.time_s,
                half.voltage_V,
                half.current_A,
                half.capacity_mAh,
                half.termination_reason,
            )
            for half in half_cycles(run)
        ),
        frames=None
        if frames is None
        else Frames(frames.darks, frames.flats, frames.projections, frames.angles_deg),
    )


def replay_config(config: StationConfig, start: dict[str, Any]) -> StationConfig:
    """``config`` with a fresh PV prefix, the run's sample and cell, and a simulation table.

    The run's cell (geometry, masses, specific capacity) sets the currents a C-rate asks
    for; keys the current config does not know (an earlier version's) are ignored.
    """
    raw = config.model_dump(mode="json")
    raw["station"]["prefix"] = f"RP{secrets.token_hex(4)}:"
    raw["sample"] = {
        "id": start.get("sample", config.sample.id),
        "description": start.get("sample_description", config.sample.description),
    }
    raw["cell"].update(
        {
            key: value
            for key, value in start.get("cell", {}).items()
            if key in CellSection.model_fields
        }
    )
    if raw.get("simulation") is None:
        raw["simulation"] = {}
    return parse_config(raw, source=f"replay of run {start['uid']}")


def replay_plan_command(config: StationConfig, uid: str | int) -> int:
    """``acq replay UID --plan``: replay against the config's Tiled and say where it went."""
    uri, api_key = endpoint(config)
    uids = replay_plan(config, uid, uri, api_key)
    source = connect(uri, api_key)["raw"][uids[0]].metadata["start"]["replay_of"] if uids else uid
    print(
        f"replayed the plan of run {source} against its recorded readings: run(s) "
        f"{', '.join(uids)} in {uri} (container 'raw', start: replay=True, replay_of)"
    )
    return 0
