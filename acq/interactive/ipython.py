"""The beamline's IPython session (``acq ipython``).

`beamline_namespace` builds what a Bluesky user expects to find at the prompt, from the one
station config:

=================  ===========================================================================
name               what
=================  ===========================================================================
``press``, ...     every device of the station by its name (``press``, ``pstat``, ``tomo``,
                   ``det``, ``pc``, ``clock``), connected; ``station`` holds them all
plans              the station's plans (`plans.__all__`), ``bp``, ``bps``
``RE``             a RunEngine with the station's metadata, streaming to Tiled and publishing
                   to the analysis worker; BestEffortCallback tables, a line per spectrum,
                   a live table of each half cycle, a line as each run ends, progress bars
                   for pressure and motor moves (`acq.interactive.live_display`); with a display a
                   live Nyquist plot and a live voltage plot
``db``             the ``raw`` runs in Tiled (``db[-1]``, ``db[uid]``, ``db.search(...)``)
``analysis``       the ``analysis`` runs in Tiled; ``wait_for_analysis(analysis, uid)`` is
                   the analysis of raw run ``uid`` once the worker has written it,
                   ``analysis_runs_of(analysis, uid)`` every one so far
``bec``            the BestEffortCallback (``bec.disable_plots()`` etc.)
=================  ===========================================================================

Ctrl-C behaves as in any Bluesky session: once, the RunEngine pauses at the next checkpoint
(plans put one before each impedance sweep, half cycle and rest); twice, it pauses at once.
Paused, the press keeps holding its pressure and the cell is off (`devices.potentiostat`
stops the running technique); ``RE.resume()`` runs the interrupted technique again,
``RE.stop()`` ends the run as a success, ``RE.abort()`` as an abort.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp

import plans

from ..analysis.results import analysis_runs_of, wait_for_analysis
from ..beamline import build_station, connect_station
from ..config import StationConfig
from ..runtime.engine import make_run_engine
from ..runtime.tiled_client import connect, endpoint
from .live_display import subscribe_terminal
from .live_plots import LiveNyquist, LiveVoltage

#: Printed when the session opens.
BANNER = """\
Stack-pressure beamline {station}: devices {devices}
RE streams to {uri} ('raw'; analysis results in 'analysis'); db = the raw runs.
Plans: {plans}.
  RE(pressure_step(press, 25, clock=clock))
  RE(eis_sweep(pstat, points_per_decade=5, detectors=[press], clock=clock))
  RE(pressure_series(press, pstat, tomo, det, position_compare=pc, clock=clock,
                     pressures_MPa=[6, 25]))
(clock=clock puts the experiment time, experiment_time_s, in every event.)
Ctrl-C once pauses at the next checkpoint, twice at once (pressure held, cell off); then
RE.resume(), RE.stop() or RE.abort().
"""


def beamline_namespace(config: StationConfig, *, plots: bool = True) -> dict[str, Any]:
    """The session's namespace for ``config``'s station (connected devices, ``RE``, ``db``).

    Parameters
    ----------
    config
        The station config; its station must be serving (``acq serve`` or hardware) and its
        Tiled reachable.
    plots
        Subscribe the BestEffortCallback's plots and the live Nyquist and voltage plots
        (tables and progress bars are always on).
    """
    station = build_station(config)
    connect_station(station)
    uri, api_key = endpoint(config)
    client = connect(uri, api_key)
    engine = make_run_engine(config, client, publish=True, press=station.press, lock=station.lock)
    RE = engine.RE
    bec = subscribe_terminal(RE, config.analysis.circuit)
    if plots:
        bec.enable_plots()
        RE.subscribe(LiveNyquist())
        RE.subscribe(LiveVoltage(time_scale=config.station.time_scale))
    namespace: dict[str, Any] = {
        "config": config,
        "station": station,
        "RE": RE,
        "engine": engine,
        "bec": bec,
        "db": client["raw"],
        "analysis": client["analysis"],
        "tiled": client,
        "analysis_runs_of": analysis_runs_of,
        "wait_for_analysis": wait_for_analysis,
        "bp": bp,
        "bps": bps,
        **station.devices(),
        **{name: getattr(plans, name) for name in plans.__all__},
    }
    namespace["banner"] = BANNER.format(
        station=config.station.name,
        devices=", ".join(station.devices()),
        uri=uri,
        plans=", ".join(plans.__all__),
    )
    return namespace


def start_session(config: StationConfig, ipython_args: Sequence[str] = ()) -> int:
    """Open IPython with `beamline_namespace` (``ipython_args`` go to IPython, e.g.
    ``["-c", "RE(pressure_step(press, 25))"]``)."""
    import IPython

    plots = bool(os.environ.get("DISPLAY")) or "--matplotlib" in " ".join(ipython_args)
    namespace = beamline_namespace(config, plots=plots)
    print(namespace.pop("banner"))
    args = list(ipython_args)
    if plots and not any(arg.startswith("--matplotlib") for arg in args):
        args.append("--matplotlib")
    try:
        IPython.start_ipython(argv=["--no-banner", *args], user_ns=namespace)
    finally:
        # Before the interpreter's exit tears Channel Access down: a monitor firing into
        # half-destroyed devices prints tracebacks.
        namespace["engine"].close()
        namespace["station"].close()
    return 0
