"""``acq``: the station's command line.

Verbs
-----
demo
    Start the simulated station and an embedded Tiled, run the stack-pressure series, print
    what was measured (``--summary-json PATH`` writes it as JSON too).
serve
    Start the simulated station's IOCs and the embedded Tiled server; stay up until Ctrl-C.
run
    Run one plan against a station that is already serving (``acq serve`` or hardware),
    streaming to the config's Tiled: ``acq run pressure_step --param pressure_MPa=25``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from .config import ConfigError, StationConfig, load_config

#: Plans ``acq run`` knows, and the station devices (by attribute name) each takes first.
RUNNABLE_PLANS = {
    "pressure_step": ("press",),
    "eis_sweep": ("potentiostat",),
    "galvanostatic_cycles": ("potentiostat",),
    "critical_current_density": ("potentiostat",),
    "lithium_inventory_cycling": ("potentiostat",),
    "ct_scan": ("tomo_stage", "detector"),
    "pressure_series": ("press", "potentiostat", "tomo_stage", "detector"),
}
#: Plans whose CT is a fly scan given the station's position-compare unit.
FLY_CT_PLANS = {"ct_scan", "pressure_series"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    demo = verbs.add_parser("demo", help="simulated station + embedded Tiled, pressure series")
    demo.add_argument("--summary-json", type=Path, help="also write the table as JSON here")
    verbs.add_parser("serve", help="simulated station IOCs + embedded Tiled, until Ctrl-C")
    run = verbs.add_parser("run", help="run one plan against a serving station")
    run.add_argument("plan", choices=sorted(RUNNABLE_PLANS))
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="plan argument; VALUE is JSON (25, 0.01, [6, 12], \"text\")")
    for verb in verbs.choices.values():
        verb.add_argument("--config", type=Path, default=None,
                          help="station config (TOML); the packaged default when omitted")
    return parser


def parse_params(pairs: Sequence[str]) -> dict:
    """``NAME=VALUE`` pairs with JSON values (bare words are taken as strings)."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``acq`` command."""
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        if args.verb == "run":
            return run_plan(config, args.plan, parse_params(args.param))
    except (ConfigError, ValueError) as error:
        print(f"acq: {error}", file=sys.stderr)
        return 2
    if config.simulation is None:
        print(f"acq: this config drives hardware; `{args.verb}` needs a [simulation] table",
              file=sys.stderr)
        return 2
    if args.verb == "demo":
        from .demo import run_demo

        return run_demo(config, args.summary_json)
    return serve(config)


def serve(config: StationConfig) -> int:
    """Serve the simulated station and the embedded Tiled until Ctrl-C."""
    from .services import start_simulated_services

    with ExitStack() as stack:
        start_simulated_services(config, stack)
        print("Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            return 0


def run_plan(config: StationConfig, plan_name: str, params: dict) -> int:
    """Run ``plan_name`` with ``params`` on the config's (serving) station."""
    import plans

    from .engine import make_run_engine
    from .simulation import configure_channel_access
    from .station import build_station, connect_station
    from .tiled_service import connect, endpoint

    configure_channel_access()
    station = build_station(config)
    connect_station(station)
    uri, api_key = endpoint(config)
    engine = make_run_engine(config, connect(uri, api_key))
    devices = [getattr(station, name) for name in RUNNABLE_PLANS[plan_name]]
    if plan_name in FLY_CT_PLANS:
        params.setdefault("position_compare", station.position_compare)
    result = engine.RE(getattr(plans, plan_name)(*devices, **params))
    engine.flush()
    print(f"{plan_name}: {result}; runs in {uri} (container 'raw')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
