"""A running plan holds the station's lock (`devices.station_lock`): another process can
neither write the feedback switch nor start a plan of its own while it runs, and once the
plan is aborted the lock is free again."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from bluesky.utils import RunEngineInterrupted

from acq.runtime.engine import make_run_engine
from conventions.pv_states import Switch, TechniqueState
from plans import galvanostatic_cycles

#: Wall seconds each condition gets to come about.
WAIT_S = 120.0
#: The stack pressure the plan runs at, MPa.
HELD_MPA = 10.0
#: Half cycles of ≈1000 h of experiment time (≈36 s each on the test station's clock), three
#: cycles: the other processes start and are refused while they run, then the run is aborted.
C_RATE = 0.001


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )


def _run_plan(config_file, plan: str, params: dict) -> str:
    """Python code running ``plan`` as ``acq run`` does, with the station config's file."""
    return (
        "import json, sys\n"
        "from acq.config import parse_config\n"
        "from acq.cli import run_plan\n"
        f"config = parse_config(json.load(open({str(config_file)!r})))\n"
        f"sys.exit(run_plan(config, {plan!r}, {params!r}))\n"
    )


def test_a_running_plan_keeps_other_processes_out(station, session_config, tmp_path):
    press, pstat, lock = station.press, station.potentiostat, station.lock
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(session_config.model_dump(mode="json")))
    seen: dict = {}

    def while_it_runs() -> None:
        try:
            deadline = time.monotonic() + WAIT_S
            while pstat.state.get(use_monitor=False) != TechniqueState.RUNNING:
                assert time.monotonic() < deadline, "the half cycle never started"
                time.sleep(0.05)
            seen["held"] = lock.held.get(use_monitor=False)
            seen["owner"] = lock.owner.get(use_monitor=False)
            seen["stray"] = _python(
                "import epics\n"
                f"pv = epics.PV({press.feedback.setpoint_pvname!r})\n"
                "assert pv.wait_for_connection(10)\n"
                "print('write access', pv.write_access)\n"
            )
            seen["second"] = _python(
                _run_plan(config_file, "pressure_step", {"pressure_MPa": 5.0})
            )
            seen["held after"] = lock.held.get(use_monitor=False)
        except BaseException as error:  # reported below; the run is paused either way
            seen["error"] = error
        finally:
            engine.RE.request_pause(defer=False)

    press.move(HELD_MPA, timeout=60)  # settled: the plan is held at it from the start
    engine = make_run_engine(session_config, press=press, lock=lock)
    stops: list[dict] = []
    engine.RE.subscribe(lambda name, doc: stops.append(doc), "stop")
    checks = threading.Thread(target=while_it_runs, daemon=True)
    checks.start()
    with pytest.raises(RunEngineInterrupted):
        engine.RE(galvanostatic_cycles(pstat, cycles=3, c_rate=C_RATE, press=press))
    engine.RE.abort("test done")
    checks.join(WAIT_S)
    assert "error" not in seen, seen
    assert seen["held"] == 1 and seen["owner"] and seen["held after"] == 1, seen
    stray, second = seen["stray"], seen["second"]
    assert "write access False" in stray.stdout, stray.stdout + stray.stderr
    assert second.returncode == 1, second.stdout + second.stderr
    assert "locked by" in second.stderr and "Traceback" not in second.stderr, second.stderr
    assert [stop["exit_status"] for stop in stops] == ["abort"]
    assert lock.held.get(use_monitor=False) == 0


def test_a_killed_plan_leaves_the_cell_off_and_the_lock_free(station, session_config, tmp_path):
    """SIGKILL (or a queue worker's environment destroyed) runs no code of the plan's: the
    IOC, seeing the lock's holder disconnect, puts the cell at open circuit."""
    pstat, lock = station.potentiostat, station.lock
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(session_config.model_dump(mode="json")))
    plan = _run_plan(config_file, "galvanostatic_cycles", {"cycles": 1, "c_rate": C_RATE})
    command = subprocess.Popen(
        [sys.executable, "-c", plan], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while pstat.state.get(use_monitor=False) != TechniqueState.RUNNING:
            assert command.poll() is None, "the plan ended before its half cycle started"
            assert time.monotonic() < deadline, "the half cycle never started"
            time.sleep(0.05)
        assert pstat.cell_on.get(use_monitor=False) == Switch.ON
        assert lock.held.get(use_monitor=False) == 1
    finally:
        command.kill()
    command.wait(10)
    killed = time.monotonic()  # the process is gone: its connections are closed
    while pstat.cell_on.get(use_monitor=False) != Switch.OFF:
        assert time.monotonic() - killed < 1.0, "the cell is still on 1 s after the kill"
        time.sleep(0.02)
    while lock.held.get(use_monitor=False) != 0:
        assert time.monotonic() - killed < 1.0, "the lock is still held 1 s after the kill"
        time.sleep(0.02)
    assert "disconnected" in lock.error_message.get(use_monitor=False)
    deadline = time.monotonic() + 10
    while pstat.state.get(use_monitor=False) == TechniqueState.RUNNING:
        assert time.monotonic() < deadline, "the technique still runs after the cell went off"
        time.sleep(0.05)
