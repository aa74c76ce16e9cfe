"""The IPython session: its namespace against the session's station and Tiled, Ctrl-C pause
semantics (pressure held, cell off; resume, stop, abort), and ``acq ipython`` itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from bluesky.utils import RunEngineInterrupted

from acq.interactive.ipython import beamline_namespace
from conventions.pv_states import Switch, TechniqueState

PAUSE_PRESSURE_MPA = 25.0


@pytest.fixture(scope="module")
def session(session_config):
    namespace = beamline_namespace(session_config, plots=False)
    yield namespace
    namespace["engine"].close()  # flushes to Tiled, closes the 0MQ publisher
    namespace["station"].close()  # before the session's IOCs stop


def test_the_namespace_has_devices_plans_engine_and_catalog(session):
    for name in (
        "press",
        "pstat",
        "tomo",
        "det",
        "pc",
        "pressure_series",
        "eis_sweep",
        "galvanostatic_cycles",
        "ct_scan",
        "bp",
        "bps",
        "db",
        "analysis",
    ):
        assert name in session, name
    RE = session["RE"]
    assert RE.md["sample"] and "cell" in RE.md and "versions" in RE.md
    (uid,) = RE(session["pressure_step"](session["press"], 12.0))
    session["engine"].flush()
    run = session["db"][uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    assert float(run["primary"]["press_pressure_MPa"].read()[-1]) == pytest.approx(12.0, abs=0.6)


def pause_during_a_half_cycle(session) -> None:
    """Run one 0.01C cycle and pause it (as Ctrl-C twice does) while the current flows."""
    RE, pstat = session["RE"], session["pstat"]
    RE(session["pressure_step"](session["press"], PAUSE_PRESSURE_MPA))

    def pause_when_cycling():
        deadline = time.monotonic() + 30
        while (
            pstat.state.get(use_monitor=False) != TechniqueState.RUNNING
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        time.sleep(0.3)
        RE.request_pause(defer=False)

    threading.Thread(target=pause_when_cycling, daemon=True).start()
    with pytest.raises(RunEngineInterrupted):
        RE(session["galvanostatic_cycles"](pstat, cycles=1, c_rate=0.01, poll_interval_s=0.05))
    assert RE.state == "paused"


def assert_held_and_off(session) -> None:
    press, pstat = session["press"], session["pstat"]
    assert pstat.cell_on.get(use_monitor=False) == Switch.OFF
    assert pstat.state.get(use_monitor=False) == TechniqueState.STOPPED
    assert press.feedback.get(use_monitor=False) == Switch.ON
    assert press.setpoint.get(use_monitor=False) == pytest.approx(PAUSE_PRESSURE_MPA)
    assert press.readback.get(use_monitor=False) == pytest.approx(PAUSE_PRESSURE_MPA, abs=1.0)


def last_run(session):
    session["engine"].flush()
    return session["db"][-1]


def test_pause_holds_pressure_and_switches_the_cell_off_then_resume_completes(session):
    pause_during_a_half_cycle(session)
    assert_held_and_off(session)
    session["RE"].resume()
    run = last_run(session)
    assert run.metadata["stop"]["exit_status"] == "success"
    half_cycles = run["half_cycle"].read()
    assert list(half_cycles["cycle_step"].values) == ["charge", "discharge"]
    # The interrupted charge ran again from its checkpoint to its cut-off.
    assert set(half_cycles["pstat_galvanostatic_termination_reason"].values) <= {
        "upper_cutoff",
        "lower_cutoff",
    }
    assert session["pstat"].cell_on.get(use_monitor=False) == "Off"


@pytest.mark.parametrize(("verb", "exit_status"), [("stop", "success"), ("abort", "abort")])
def test_stop_and_abort_after_a_pause_close_the_run_honestly(session, verb, exit_status):
    pause_during_a_half_cycle(session)
    assert_held_and_off(session)
    getattr(session["RE"], verb)()
    run = last_run(session)
    assert run.metadata["stop"]["exit_status"] == exit_status
    assert_held_and_off(session)


def test_acq_ipython_opens_a_session_that_runs_plans(session_config, tmp_path):
    """``acq ipython -- -c CODE``, as a user would start it (the config as JSON here)."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(session_config.model_dump(mode="json")))
    code = (
        "from acq.config import parse_config; import json, sys; "
        "from acq.interactive.ipython import start_session; "
        f"sys.exit(start_session(parse_config(json.load(open({str(config_file)!r}))), "
        "['-c', 'uid, = RE(pressure_step(press, 6)); engine.flush(); "
        'print("exit", db[uid].metadata["stop"]["exit_status"])\']))'
    )
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Stack-pressure beamline" in done.stdout
    assert "exit success" in done.stdout, done.stdout[-3000:]


def test_live_plots_draw_each_spectrum_and_the_cycling_voltage(session):
    """The session's plots, on axes of their own (headless)."""
    import matplotlib.pyplot as plt

    from acq.interactive.live_plots import LiveNyquist, LiveVoltage

    figure, (nyquist_ax, voltage_ax) = plt.subplots(1, 2)
    nyquist = LiveNyquist(nyquist_ax)
    voltage = LiveVoltage(voltage_ax, time_scale=session["config"].station.time_scale)
    RE, pstat = session["RE"], session["pstat"]
    tokens = [RE.subscribe(nyquist), RE.subscribe(voltage)]
    try:
        RE(session["pressure_step"](session["press"], 25.0))
        RE(session["eis_sweep"](pstat, points_per_decade=4))
        RE(session["galvanostatic_cycles"](pstat, cycles=1, c_rate=0.01, poll_interval_s=0.05))
    finally:
        for token in tokens:
            RE.unsubscribe(token)
    (spectrum,) = nyquist_ax.lines
    assert len(spectrum.get_xdata()) == pstat.eis.num_points.get()
    assert (spectrum.get_ydata() > 0).any()  # −Z″ up
    (trace,) = voltage_ax.lines
    run = last_run(session)
    assert len(trace.get_xdata()) == len(run["trace"]["pstat_voltage_V"].read())
    assert np.all(np.diff(trace.get_xdata()) >= 0)
    assert trace.get_xdata()[-1] > 1.0  # hours of experiment time, seconds of wall time
    plt.close(figure)


def test_pressure_moves_report_progress(session):
    """What the progress bars hear while the press settles: the pressure, MPa, and the
    fraction of the move that remains."""
    RE = session["RE"]
    heard: list[dict] = []

    def hook(statuses):
        for status in statuses or ():
            if hasattr(status, "watch"):  # as ProgressBarManager: some statuses can't
                status.watch(lambda **update: heard.append(update))

    previous, RE.waiting_hook = RE.waiting_hook, hook
    try:
        RE(session["pressure_step"](session["press"], 40.0))
    finally:
        RE.waiting_hook = previous
    pressure = [update for update in heard if update.get("unit") == "MPa"]
    assert len(pressure) > 1 and pressure[-1]["target"] == 40.0
    assert pressure[0]["fraction"] > pressure[-1]["fraction"]
    assert pressure[-1]["fraction"] < 0.1
    assert all(0.0 <= update["fraction"] <= 1.0 for update in pressure)
