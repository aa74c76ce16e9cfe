"""The main job: the stack-pressure series on the simulated station, streamed to Tiled and
analysed live.

Starts the simulated IOCs, an embedded Tiled (unless the config names a server) and the
analysis worker; runs `plans.pressure_series` with a fly-scan CT and accelerated cycling;
reads every run and its analysis back from Tiled and prints what was measured and what the
analysis found beside the simulator's truth, as tables, as JSON (optional) and as a figure.
If documents of the series went to the backup instead of Tiled, it says so in one line (which
runs, which files, that ``acq recover`` uploads them) and exits with status 1.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

from plans import pressure_series
from simulated_devices.truth import truth_at

from ..analysis.figure import series_figure
from ..analysis.results import wait_for_analysis
from ..beamline import build_station, connect_station
from ..config import StationConfig
from ..runtime.engine import make_run_engine
from ..runtime.recovery import report_backed_up
from ..services import simulation_parameters, start_simulated_services
from .summary import (
    add_capacity_ratios,
    analysed_row,
    format_analysis_table,
    format_table,
    measured_row,
)

#: Wall seconds the demo waits for each run's analysis after the series.
ANALYSIS_TIMEOUT_S = 300.0

#: What a row's ``truth`` means where it is not the same quantity the analysis estimates.
TRUTH_NOTES = {
    "capacity_ratio": "accessible capacity relative to the lowest pressure's (rate-"
    "independent); the measured ratio is of 0.01C discharge capacities, "
    "which also lose capacity to polarisation, most at low pressure",
}

#: The demo's protocol: the paper's pressures, a reduced CT, one 0.01C cycle per pressure.
DEMO_PLAN_ARGS = {
    "pressures_MPa": [6.0, 12.0, 25.0, 50.0, 100.0],
    "ct_num_projections": 361,
    "ct_num_darks": 10,
    "ct_num_flats": 10,
    "ct_exposure_s": 0.05,
    "cycles": 1,
    "c_rate": 0.01,
}


def run_demo(
    config: StationConfig,
    summary_json: Path | None = None,
    plan_args: dict | None = None,
    figure: Path | None = None,
) -> int:
    """Run the demo; returns the process exit code.

    Raises
    ------
    ValueError
        Before anything starts, if the config's cell is not a full cell (the demo's series
        cycles a cathode at a C-rate).
    """
    if config.cell.cell_type != "full":
        raise ValueError(
            f"acq demo runs the stack-pressure study of a full cell, cycling its cathode at a "
            f"C-rate; this config's cell is {config.cell.cell_type} (cell.cell_type): serve it "
            f"with `acq serve` and run its own plans with `acq run` (README: the shipped cells)"
        )
    with ExitStack() as stack:
        client, uri, _ = start_simulated_services(config, stack)
        station = build_station(config)
        stack.callback(station.close)
        connect_station(station)
        engine = make_run_engine(
            config, client, publish=True, press=station.press, lock=station.lock
        )
        stack.callback(engine.close)
        args = {**DEMO_PLAN_ARGS, **(plan_args or {})}
        started = time.monotonic()
        uids = engine.run(
            pressure_series(
                station.press,
                station.potentiostat,
                station.tomo_stage,
                station.detector,
                position_compare=station.position_compare,
                clock=station.clock,
                **args,
            )
        )
        engine.flush()
        assert engine.writer is not None  # streaming to Tiled
        if report_backed_up(engine.writer.backed_up):  # not (all) in Tiled: nothing to read back
            return 1
        acquired = time.monotonic() - started
        rows = [
            analysed_row(
                measured_row(client["raw"][uid]),
                wait_for_analysis(client["analysis"], uid, ANALYSIS_TIMEOUT_S),
            )
            for uid in uids
        ]
        add_capacity_ratios(rows)
        add_truth(rows, config)
        print(
            f"\npressure series: {len(uids)} runs acquired in {acquired:.0f} s, analysed "
            f"{time.monotonic() - started - acquired:.0f} s later; read back from Tiled\n"
        )
        print(format_table(rows))
        print("\nanalysis, measured (simulator's truth):\n")
        print(format_analysis_table(rows))
        figure = figure or config.station.data_dir / "pressure_series.png"
        series_figure(rows, client["raw"], client["analysis"], figure)
        print(f"\nfigure written to {figure}")
        if summary_json is not None:
            summary_json.parent.mkdir(parents=True, exist_ok=True)
            summary_json.write_text(
                json.dumps({"tiled_uri": uri, "rows": rows, "truth_notes": TRUTH_NOTES}, indent=2)
            )
            print(f"summary written to {summary_json}")
        key_file = config.station.data_dir / "tiled" / "api_key"
        print(
            f"\nThe catalog persists under {config.station.data_dir}/tiled; `acq serve` serves "
            f"it again at {uri}. Open the runs from Python:\n"
            f"  from tiled.client import from_uri\n"
            f"  from tiled.queries import Key\n"
            f"  client = from_uri({uri!r}, api_key=open({str(key_file)!r}).read().strip())\n"
            f"  run = client['raw'][{uids[-1]!r}]   # or client['raw'][-1]\n"
            f"  run['projection']['det_image'][0]   # a CT frame\n"
            f"  client['analysis'].search(Key('start.raw_uid') == run.metadata['start']['uid'])"
            f"\n"
        )
    return 0


def add_truth(rows: list[dict], config: StationConfig) -> None:
    """On a simulated station, give each row the simulator's ``truth`` under the row's keys."""
    if config.simulation is None or not rows:
        return
    params = simulation_parameters(config)
    lowest = min(row["pressure_setpoint_MPa"] for row in rows)
    for row in rows:
        row["truth"] = truth_at(
            row["pressure_setpoint_MPa"], params, config.simulation.seed, lowest
        )
