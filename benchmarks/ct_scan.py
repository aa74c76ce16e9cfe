"""CT acquisition against its exposure floor, on the simulated station over Channel Access.

Serves the default station (the demo's cell and imaging; experiment time at the wall
clock's pace, ``time_scale`` 1) on free Channel Access and Tiled ports, with an embedded
Tiled, and runs `plans.ct_scan` fly scans through the station's RunEngine with streaming
to Tiled on, as ``acq run`` does:

- 1800 × 0.05 s from 0° (the rotation at the pass's start), 10 darks, 10 flats;
- the same again at once, after that scan (the rotation at its run-out beyond 180°);
- the demo's CT (`acq.demo.run.DEMO_PLAN_ARGS`: 361 × 0.05 s, 10 darks, 10 flats) after it.

A 3-projection step CT runs first, untimed: the first CT of a session also primes the
detector's HDF5 plugin (a freshly started IOC's must see a frame before it can capture) and
connects the signals ophyd connects on first use (2–3 s here).

Each figure is the scan's wall time (the RunEngine call: open to close of the run, its
documents in Tiled) ÷ its exposure floor, every frame's exposure ((darks + flats +
projections) × exposure); the detail gives the phases the plan recorded in its ``ct_timing``
stream (`plans.ct_timing`), and the pass's own pace (frames + 1) × (exposure + readout) + 2 ×
the rotation's ACCL: where the projections take longer, the simulated camera did not keep
up. ``--quick``: 360 projections instead of 1800, 181 for the demo's.

The station runs in a child process of its own (``python -m benchmarks.ct_scan --json``), so
its Channel Access ports are set before pyepics starts, whatever ran before in the calling
process; it is killed after `TIMEOUT_S`.

    .venv/bin/python -m benchmarks.ct_scan [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.figures import Figure

#: The issue's goal: wall ÷ exposure floor.
GOAL = 1.05
#: Projections of the paper-scale fly scan, and of its quick stand-in.
PROJECTIONS, QUICK_PROJECTIONS = 1800, 360
#: Projections of the demo's CT in quick mode.
QUICK_DEMO_PROJECTIONS = 181
#: Exposure, darks and flats of the paper-scale scan (the demo's own for its CT).
EXPOSURE_S, DARKS, FLATS = 0.05, 10, 10
#: Wall seconds the child process may take, whole and quick.
TIMEOUT_S, QUICK_TIMEOUT_S = 900.0, 300.0
#: The untimed step CT that runs first.
WARM_UP = {"num_projections": 3, "num_darks": 1, "num_flats": 1, "exposure_s": EXPOSURE_S}
#: The phases of ``ct_timing``, as the detail names them.
PHASES = {
    "darks": "darks",
    "sample_out": "sample out",
    "flats": "flats",
    "projection_setup": "sample in + setup",
    "projections": "projections",
    "finish": "shutter",
}


def _scans(quick: bool) -> list[tuple[str, dict[str, Any], bool]]:
    """(figure name, ct_scan arguments, rotation sent to 0° first) of each measured scan."""
    from acq.demo.run import DEMO_PLAN_ARGS

    count = QUICK_PROJECTIONS if quick else PROJECTIONS
    paper = {
        "num_projections": count,
        "exposure_s": EXPOSURE_S,
        "num_darks": DARKS,
        "num_flats": FLATS,
    }
    demo = {
        "num_projections": QUICK_DEMO_PROJECTIONS
        if quick
        else DEMO_PLAN_ARGS["ct_num_projections"],
        "exposure_s": DEMO_PLAN_ARGS["ct_exposure_s"],
        "num_darks": DEMO_PLAN_ARGS["ct_num_darks"],
        "num_flats": DEMO_PLAN_ARGS["ct_num_flats"],
    }
    return [
        (f"fly-scan CT, {count} × {EXPOSURE_S:g} s, streaming on, from 0°", paper, True),
        (f"fly-scan CT, {count} × {EXPOSURE_S:g} s, streaming on, after a scan", paper, False),
        (f"the demo's CT, {demo['num_projections']} × {demo['exposure_s']:g} s", demo, False),
    ]


def measure(quick: bool) -> list[dict[str, Any]]:
    """Serve a station and run the scans; each scan's wall, floor, CPU and ``ct_timing``.

    Must run in a process that has not started Channel Access yet.
    """
    from acq.runtime.channel_access import configure_channel_access
    from acq.services.ports import free_channel_access_port

    port = free_channel_access_port()
    configure_channel_access(port, port + 1)

    import bluesky.plan_stubs as bps

    from acq.beamline import build_station, connect_station
    from acq.config import load_config, parse_config
    from acq.runtime.engine import make_run_engine
    from acq.runtime.tiled_client import connect
    from acq.services import SimulatedStationProcess, embedded_tiled
    from conventions import data_keys
    from plans import ct_scan

    results = []
    with tempfile.TemporaryDirectory(prefix="ct-scan-bench-") as folder:
        raw = load_config().model_dump(mode="json")
        raw["station"].update(
            data_dir=folder,
            prefix=f"B{secrets.token_hex(3)}:",
            ca_server_port=port,
            ca_repeater_port=port + 1,
            time_scale=1.0,
        )
        raw["tiled"]["port"] = 0
        config = parse_config(raw)
        with SimulatedStationProcess(config), embedded_tiled(config) as server:
            station = build_station(config)
            connect_station(station)
            engine = make_run_engine(
                config, connect(server.uri, server.api_key), press=station.press, lock=station.lock
            )
            timing: dict[str, float] = {}
            descriptors: dict[str, str] = {}
            technique: dict[str, Any] = {}

            def keep_timing(name: str, doc: dict) -> None:
                if name == "start":
                    technique.update(doc["technique"])
                elif name == "descriptor":
                    descriptors[doc["uid"]] = doc["name"]
                elif name == "event" and descriptors.get(doc["descriptor"]) == data_keys.CT_TIMING:
                    timing.update(doc["data"])

            engine.RE.subscribe(keep_timing)
            try:
                # Untimed: a first CT pays for what a session pays once (the HDF5 plugin
                # primed, the signals ophyd connects on first use).
                engine.RE(ct_scan(station.tomo_stage, station.detector, **WARM_UP))
                for label, arguments, from_zero in _scans(quick):
                    if from_zero:
                        engine.RE(bps.mv(station.tomo_stage.rotation, 0.0))
                    timing.clear()
                    load_before = os.getloadavg()[0]
                    cpu_started, started = time.process_time(), time.perf_counter()
                    engine.RE(
                        ct_scan(
                            station.tomo_stage,
                            station.detector,
                            position_compare=station.position_compare,
                            clock=station.clock,
                            **arguments,
                        )
                    )
                    wall_s = time.perf_counter() - started
                    frames = arguments["num_projections"] + arguments["num_darks"]
                    frames += arguments["num_flats"]
                    results.append(
                        {
                            "name": label,
                            "wall_s": wall_s,
                            "floor_s": frames * arguments["exposure_s"],
                            "cpu_s": time.process_time() - cpu_started,
                            "load": [load_before, os.getloadavg()[0]],
                            "timing": dict(timing),
                            "pass_pace_s": pass_pace_s(
                                arguments["num_projections"],
                                arguments["exposure_s"] + technique["readout_s"],
                                technique["acceleration_s"],
                            ),
                        }
                    )
            finally:
                engine.close()
                station.close()
    return results


def pass_pace_s(frames: int, period_s: float, acceleration_s: float) -> float:
    """Seconds a fly pass takes at its own pace: from rest through its run-up (accelerating,
    then a step to the first pulse), a pulse every ``period_s``, the last frame's exposure and
    the run-out (see `devices.rotation_flyer.RotationFlyer.travel_deg`)."""
    return (frames + 1) * period_s + 2 * acceleration_s


def as_figure(result: dict[str, Any]) -> Figure:
    """One measured scan as a row: wall ÷ floor, the phases in the detail."""
    timing = result["timing"]
    phases = ", ".join(
        f"{label} {timing[f'ct_{phase}_s']:.2f}"
        for phase, label in PHASES.items()
        if f"ct_{phase}_s" in timing
    )
    phases += f" (the pass's own pace {result['pass_pace_s']:.2f})"
    outside_s = result["wall_s"] - timing.get("ct_wall_s", 0.0)
    own_ratio = timing.get("ct_overhead_ratio", float("nan"))
    return Figure(
        result["name"],
        result["wall_s"] / result["floor_s"],
        "×",
        GOAL,
        "lower",
        anchor=f"exposure floor (darks + flats + projections) × exposure = "
        f"{result['floor_s']:.2f} s",
        detail=f"wall {result['wall_s']:.2f} s: {phases}, run open/close and Tiled "
        f"{outside_s:.2f} s; the plan's own ratio {own_ratio:.3f}; "
        f"client CPU {result['cpu_s']:.1f} s; load {result['load'][0]:.1f} → "
        f"{result['load'][1]:.1f}",
    )


def figures(quick: bool = False) -> list[Figure]:
    """The three scans' wall ÷ exposure floor, measured in a child process."""
    command = [sys.executable, "-m", "benchmarks.ct_scan", "--json"]
    done = subprocess.run(
        [*command, *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_S if quick else TIMEOUT_S,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.ct_scan exited {done.returncode}: {done.stderr[-800:]}")
    return [as_figure(result) for result in json.loads(done.stdout.splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer projections")
    parser.add_argument("--json", action="store_true", help="the raw results, one JSON line")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.quick)))
        return
    for figure in figures(args.quick):
        print(f"{figure.name}: {figure.value:.3f} {figure.unit} (goal {figure.goal_text})")
        print(f"  {figure.anchor}; {figure.detail}")


if __name__ == "__main__":
    main()
