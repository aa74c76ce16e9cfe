"""The main job: the stack-pressure series on the simulated station, streamed to Tiled.

Starts the simulated IOCs and (unless the config names a Tiled server) an embedded Tiled,
runs `plans.pressure_series` with a reduced CT and accelerated cycling, reads every run back
from Tiled and prints (and optionally writes as JSON) a table of what was measured.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

from plans import pressure_series

from .config import StationConfig
from .engine import make_run_engine
from .services import start_simulated_services
from .station import build_station, connect_station
from .summary import format_table, measured_row

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


def run_demo(config: StationConfig, summary_json: Path | None = None,
             plan_args: dict | None = None) -> int:
    """Run the demo; returns the process exit code."""
    with ExitStack() as stack:
        client, uri, _ = start_simulated_services(config, stack)
        station = build_station(config)
        stack.callback(station.close)
        connect_station(station)
        engine = make_run_engine(config, client)
        args = {**DEMO_PLAN_ARGS, **(plan_args or {})}
        started = time.monotonic()
        uids = engine.RE(pressure_series(station.press, station.potentiostat,
                                         station.tomo_stage, station.detector,
                                         position_compare=station.position_compare, **args))
        engine.flush()
        elapsed = time.monotonic() - started
        rows = [measured_row(client["raw"][uid]) for uid in uids]
        print(f"\npressure series: {len(uids)} runs in {elapsed:.0f} s, read back from Tiled\n")
        print(format_table(rows))
        if summary_json is not None:
            summary_json.parent.mkdir(parents=True, exist_ok=True)
            summary_json.write_text(json.dumps({"tiled_uri": uri, "rows": rows}, indent=2))
            print(f"\nsummary written to {summary_json}")
        print(f"\nThe catalog persists under {config.station.data_dir}/tiled; `acq serve` serves "
              f"it again at {uri}. Open the runs from Python:\n"
              f"  from tiled.client import from_uri\n"
              f"  api_key = open({str(config.station.data_dir / 'tiled' / 'api_key')!r})"
              f".read().strip()\n"
              f"  raw = from_uri({uri!r}, api_key=api_key)['raw']\n"
              f"  run = raw[{uids[-1]!r}]   # or raw[-1]\n"
              f"  run['projection']['det_image'][0]   # a CT frame\n")
    return 0
