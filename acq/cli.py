"""``acq``: the station's command line.

Verbs
-----
demo
    Start the simulated station, an embedded Tiled and the analysis worker, run the
    stack-pressure series, print what was measured and what the analysis found (``--summary-json
    PATH`` writes it as JSON too; ``--figure PATH`` the PNG).
serve
    Start the simulated station's IOCs, the embedded Tiled server and the analysis worker;
    stay up until Ctrl-C, restarting one whose process exits (`acq.services.supervisor`: a
    child that keeps exiting stops the station, exit status 1).
ipython
    Open an IPython session on a station that is already serving (``acq serve`` or
    hardware): its devices, plans, ``RE`` (Tiled, analysis, live tables and plots, progress
    bars) and ``db``. Arguments after ``--`` go to IPython: ``acq ipython -- -c "db[-1]"``.
run
    Run one plan against a station that is already serving (``acq serve`` or hardware),
    streaming to the config's Tiled: ``acq run pressure_step --param pressure_MPa=25``. Prints
    the runs, what the plan returned and, once the analysis worker has written it, each
    run's analysis summary (``--analysis-wait-s``, 0 not to wait).
replay
    Re-run the analysis of a recorded run read back from the config's Tiled; the result is a
    new analysis run marked as a replay: ``acq replay 3ec4bc56``. With ``--plan``, re-run the
    run's plan against simulated devices that play back its readings; the result is a new
    raw run marked as a replay: ``acq replay 3ec4bc56 --plan``.
queue
    Start the station's services (as ``serve`` for a simulated station) and its queue server:
    the RE Manager on Redis, building the station from the same config, and bluesky-httpserver
    with an API key in front of it; stay up until Ctrl-C.
import
    Bring instrument files measured elsewhere (BioLogic .mpt, Gamry .DTA, ZPlot .z) into the
    config's Tiled as raw runs and print each one's analysis: ``acq import cell_A.mpt``
    (``--cell KEY=VALUE`` for a cell other than the config's, ``--circuit R0-RQ-RQ-RQ-W`` to
    fit its spectra to another circuit than the config's; a fit that does not converge is
    followed by the circuit with as many arcs as the spectrum's DRT resolves).
tiled serve
    Serve the config's ``[tiled.deployment]``: Tiled servers on a PostgreSQL catalog behind
    HAProxy on loopback (`acq.services.tiled_deployment`), supervised, until Ctrl-C; stations
    name it as ``[tiled] uri`` with its key's ``api_key_file``.
recover
    Close ("fail", saying why) each run whose process died before closing it (its entry in
    ``<data_dir>/open_runs``), then upload the runs kept in ``<data_dir>/backup`` (documents
    that did not reach Tiled) into the config's Tiled, completing each partial run in place; a
    backup whose run is then complete moves to ``backup/recovered/``. Running it again adds
    nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from .analysis.raw_run import RawRunError
from .config import ConfigError, StationConfig, load_config
from .queue_server.launch import add_queue_arguments, serve_queue, settings_from_arguments
from .services.child import ServiceError

#: Verbs that serve a simulated station themselves.
SIMULATED_ONLY = ("demo", "serve")
#: Wall seconds `acq run` waits for the analysis worker's summaries of its runs (a CT
#: reconstruction takes tens of seconds).
ANALYSIS_WAIT_S = 60.0
MAX_ANALYSIS_WAIT_S = 3600.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    demo = verbs.add_parser("demo", help="simulated station + embedded Tiled, pressure series")
    demo.add_argument("--summary-json", type=Path, help="also write the table as JSON here")
    demo.add_argument(
        "--figure",
        type=Path,
        default=None,
        help="PNG of the series (default <data_dir>/pressure_series.png)",
    )
    verbs.add_parser("serve", help="simulated station IOCs + embedded Tiled, until Ctrl-C")
    add_queue_arguments(
        verbs.add_parser(
            "queue", help="station services + queue server (RE Manager, HTTP), until Ctrl-C"
        )
    )
    replay = verbs.add_parser("replay", help="re-run the analysis of a recorded run")
    replay.add_argument(
        "uid",
        type=run_reference,
        help="the raw run: its uid (or a unique prefix), its scan id, or -1 "
        "for the latest run (-2 the one before, ...)",
    )
    replay.add_argument(
        "--plan",
        action="store_true",
        help="re-run the run's plan against devices playing back its readings",
    )
    importing = verbs.add_parser(
        "import", help="instrument files into Tiled as raw runs, each analysed"
    )
    importing.add_argument(
        "files", nargs="+", type=Path, help="BioLogic .mpt, Gamry .DTA, ZPlot .z"
    )
    importing.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [cell] key of the config for these files (VALUE as JSON)",
    )
    importing.add_argument(
        "--circuit",
        help="equivalent circuit to fit their spectra to, e.g. R0-RQ-RQ-RQ-W "
        "(default: the config's [analysis] circuit)",
    )
    verbs.add_parser(
        "recover", help="close runs whose process died; upload the runs kept in the backup"
    )
    tiled = verbs.add_parser(
        "tiled", help="the config's Tiled deployment (PostgreSQL, HAProxy), until Ctrl-C"
    )
    tiled.add_argument("action", choices=["serve"], help="serve it")
    session = verbs.add_parser("ipython", help="IPython session on a serving station")
    session.add_argument(
        "ipython_args", nargs=argparse.REMAINDER, help="arguments for IPython, after --"
    )
    run = verbs.add_parser("run", help="run one plan against a serving station")
    run.add_argument("plan", help="a plan of the `plans` package, e.g. pressure_step")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help='plan argument; VALUE is JSON (25, 0.01, [6, 12], "text"); '
        "the station's devices are filled in",
    )
    run.add_argument(
        "--analysis-wait-s",
        type=float,
        default=ANALYSIS_WAIT_S,
        metavar="S",
        help="wall seconds to wait for the runs' analysis summaries (0: do not wait; "
        f"default {ANALYSIS_WAIT_S:g})",
    )
    for verb in verbs.choices.values():
        verb.add_argument(
            "--config",
            type=Path,
            default=None,
            help="station config (TOML); the packaged default when omitted",
        )
        verb.add_argument(
            "--debug",
            action="store_true",
            help="print the traceback of an error before its one line",
        )
    return parser


def run_reference(text: str) -> str | int:
    """A run as the command line names it: digits are a scan id, ``-N`` counts back from the
    latest run, anything else is a uid or a unique prefix of one."""
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else text


def parse_params(pairs: Sequence[str], option: str = "--param") -> dict:
    """``NAME=VALUE`` pairs of ``option`` with JSON values (bare words are taken as
    strings)."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"{option} {pair!r}: expected NAME=VALUE")
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
        if config.simulation is not None:
            _set_up_simulated(config)
        elif args.verb in SIMULATED_ONLY:
            raise ConfigError(
                f"this config drives hardware; `{args.verb}` needs a [simulation] table"
            )
        if args.verb == "run":
            if not 0 <= args.analysis_wait_s <= MAX_ANALYSIS_WAIT_S:
                raise ValueError(
                    f"--analysis-wait-s {args.analysis_wait_s:g} must be in "
                    f"[0, {MAX_ANALYSIS_WAIT_S:g}] s"
                )
            return run_plan(
                config, args.plan, parse_params(args.param), args.analysis_wait_s, args.debug
            )
        if args.verb == "ipython":
            from .interactive.ipython import start_session

            return start_session(config, [arg for arg in args.ipython_args if arg != "--"])
        if args.verb == "replay" and args.plan:
            from .replay.plan import replay_plan_command

            return replay_plan_command(config, args.uid)
        if args.verb == "replay":
            return replay(config, args.uid)
        if args.verb == "import":
            cell = parse_params(args.cell, "--cell")
            return import_command(config, args.files, cell, args.circuit)
        if args.verb == "queue":
            return serve_queue(config, settings_from_arguments(args, config))
        if args.verb == "tiled":
            from .services.tiled_deployment import serve_deployment

            return serve_deployment(config)
        if args.verb == "recover":
            from .runtime.recovery import recover

            return recover(config)
        if args.verb == "demo":
            from .demo.run import run_demo

            return run_demo(config, args.summary_json, figure=args.figure)
        return serve(config)
    except (ConfigError, ValueError, RawRunError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"acq: {error}", file=sys.stderr)
        return 2
    except (ServiceError, ConnectionError) as error:  # a service, or the broker, not there
        if args.debug:
            traceback.print_exc()
        print(f"acq: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:  # outside a run (`acq run` pauses a running one)
        name = str(interrupt) or "SIGINT"
        print(f"acq: {name}: stopped", file=sys.stderr)
        return 128 + signal.Signals[name] if name in signal.Signals.__members__ else 130


def _set_up_simulated(config: StationConfig) -> None:
    """Check a simulated station's physics parameters and keep its Channel Access on
    loopback, on the config's ports (a hardware station is reached through the site's EPICS
    environment, which is left as it is)."""
    from .runtime.channel_access import configure_channel_access
    from .services import simulation_parameters

    simulation_parameters(config)
    configure_channel_access(config.station.ca_server_port, config.station.ca_repeater_port)


def serve(config: StationConfig) -> int:
    """Serve the simulated station and the embedded Tiled until Ctrl-C."""
    from .services import serve_until_interrupted, start_simulated_services
    from .services.child import ignore_stop_signals, interrupt_on_stop_signals

    interrupt_on_stop_signals()  # a SIGTERM while the services start stops them too
    with ExitStack() as stack:
        start_simulated_services(config, stack)
        stack.callback(ignore_stop_signals)  # runs first: the services then stop in order
        print("Ctrl-C stops", flush=True)
        serve_until_interrupted()
        return 0


def run_plan(
    config: StationConfig,
    plan_name: str,
    params: dict,
    analysis_wait_s: float = ANALYSIS_WAIT_S,
    debug: bool = False,
) -> int:
    """Run ``plan_name`` with ``params`` on the config's (serving) station: its devices fill
    the plan's device parameters (a CT is a fly scan with the station's position compare).
    Then print what it returned and, within ``analysis_wait_s``, its runs' analysis
    summaries; ``debug`` prints the traceback of a failure too."""
    from bluesky.utils import RunEngineInterrupted

    from .beamline import StationConnectionError, build_station, connect_station, station_plans
    from .interactive.live_display import one_line_bluesky_log, subscribe_terminal
    from .runtime.engine import make_run_engine
    from .runtime.interrupts import EXIT_STATUS, pause_on_signals
    from .runtime.recovery import report_backed_up
    from .runtime.tiled_client import connect, endpoint

    known = station_plans()
    if plan_name not in known:
        raise ValueError(f"no plan {plan_name!r}; the station's plans: {', '.join(known)}")
    plan = known[plan_name]
    refused = plan.refusal(params)  # before the station: nothing is connected to for it
    if refused:
        raise ValueError(refused)
    with ExitStack() as stack:
        try:
            station = build_station(config)
            stack.callback(station.close)
            connect_station(station)
        except StationConnectionError as error:
            serving = " (is `acq serve` running for this config?)" if config.simulation else ""
            print(f"acq: {error}{serving}", file=sys.stderr)
            return 1
        arguments = plan.bind(station, params, fill_optional=True)
        uri, api_key = endpoint(config)
        client = connect(uri, api_key)
        engine = make_run_engine(
            config, client, publish=True, press=station.press, lock=station.lock
        )
        assert engine.writer is not None  # streaming to Tiled
        backed_up = engine.writer.backed_up  # runs whose documents went to the backup
        stack.callback(report_backed_up, backed_up)  # once engine.close has written them all
        stack.callback(engine.close)
        subscribe_terminal(engine.RE, config.analysis.circuit)
        one_line_bluesky_log(caller_reports=True)  # main() prints the one line
        returned: list = []  # what the plan returns (a CCD, an end-of-life cycle)

        def keeping_result(plan_messages):
            returned.append((yield from plan_messages))

        with pause_on_signals(engine.RE) as received:
            try:
                uids = engine.run(keeping_result(plan.function(**arguments)))
            except (ValueError, KeyboardInterrupt):
                raise  # refused input: main() says why, exit 2
            except RunEngineInterrupted:
                reason = f"{received[0]} to acq run"
                aborted = engine.RE.abort(reason)
                print(
                    f"acq: {plan_name}: {reason}; run(s) {', '.join(aborted) or '(none open)'} "
                    f"aborted, cell current off",
                    file=sys.stderr,
                )
                return EXIT_STATUS[received[0]]
            except Exception as error:  # the run is closed ("fail") with it as its reason
                if debug:
                    traceback.print_exc()
                print(f"acq: {plan_name} failed: {type(error).__name__}: {error}", file=sys.stderr)
                return 1
    if backed_up:  # not (all) in Tiled: the one line said so
        return 1
    print(f"{plan_name}: run(s) {', '.join(uids)} in {uri} (container 'raw')")
    for line in result_lines(returned[0] if returned else None, uids):
        print(line)
    if analysis_wait_s > 0:
        for line in analysis_lines(client["analysis"], uids, analysis_wait_s):
            print(line, flush=True)
    return 0


def result_lines(result: object, uids: Sequence[str]) -> list[str]:
    """What a plan returned besides its runs' uids, a line per item (``  key = value``)."""
    if isinstance(result, Mapping):
        return [f"  {key} = {value}" for key, value in result.items() if value not in uids]
    if result is None or result in uids or result == list(uids):
        return []
    return [f"  returned {result}"]


def analysis_lines(analysis, uids: Sequence[str], wait_s: float) -> list[str]:
    """Each run's analysis summary, once the analysis worker has written it (``wait_s`` wall
    seconds at most for them all), or a line saying there is none yet."""
    from .analysis.results import analysis_summary

    deadline = time.monotonic() + wait_s
    lines = []
    for uid in uids:
        try:
            summary = analysis_summary(analysis, uid, max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            lines.append(
                f"analysis of {uid[:8]}: none within {wait_s:g} s (is the analysis worker "
                f"running? `acq replay {uid[:8]}` analyses it now)"
            )
            continue
        lines.append(f"analysis of {uid[:8]}:")
        lines.extend(summary_lines(summary))
    return lines


def summary_lines(summary: Mapping[str, object]) -> list[str]:
    """An analysis summary row, a line per value (``  key = value``)."""
    return [
        f"  {key} = {value}" for key, value in summary.items() if key not in ("time", "seq_num")
    ]


def replay(config: StationConfig, uid: str | int) -> int:
    """Re-run the analysis of raw run ``uid`` from the config's Tiled."""
    from .replay.analysis import replay_analysis
    from .runtime.tiled_client import connect, endpoint

    uri, api_key = endpoint(config)
    client = connect(uri, api_key)
    analysis_uid = replay_analysis(client, uid, config.analysis.circuit)
    from .analysis.results import summary_row

    result = client["analysis"][analysis_uid]
    print(
        f"replayed the analysis of run {result.metadata['start']['raw_uid']}: analysis run "
        f"{analysis_uid} in {uri} ('analysis')"
    )
    for line in summary_lines(summary_row(result)):
        print(line)
    return 0


def import_command(
    config: StationConfig, files: Sequence[Path], cell: dict, circuit: str | None = None
) -> int:
    """``acq import``: each file as a raw run in the config's Tiled, and its analysis
    (fitted to ``circuit``, None: the config's)."""
    from .analysis.results import summary_row
    from .importing import import_files
    from .runtime.tiled_client import connect, endpoint

    uri, imported = import_files(config, files, cell, circuit)
    analysis = connect(*endpoint(config))["analysis"]
    for run in imported:
        print(
            f"imported {run.path.name} ({run.measurement.instrument} "
            f"{run.measurement.technique}): run {run.raw_uid} in {uri} ('raw'), analysis run "
            f"{run.analysis_uid}"
        )
        for line in summary_lines(summary_row(analysis[run.analysis_uid])):
            print(line)
        for hint in run.hints:
            print(f"  {hint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
