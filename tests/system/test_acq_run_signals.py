"""``acq run`` stopped by Ctrl-C or SIGTERM mid half cycle: the cell is switched off at once,
the run closes with exit_status "abort" and the signal as its reason, and the command says so
in one line and exits with 128 + the signal's number."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from conventions.pv_states import Switch, TechniqueState

#: A half cycle of ≈500 h of experiment time: ≈18 s on the test station's clock, so the
#: signal lands while the current flows.
SLOW_C_RATE = 0.002


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_half_cycle_aborts_the_run_with_the_cell_off(
    signum, station, session_config, tiled_client, tmp_path
):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(session_config.model_dump(mode="json")))
    code = (
        "import json, sys\n"
        "from acq.config import parse_config\n"
        "from acq.cli import run_plan\n"
        f"config = parse_config(json.load(open({str(config_file)!r})))\n"
        "sys.exit(run_plan(config, 'galvanostatic_cycles', "
        f"{{'cycles': 1, 'c_rate': {SLOW_C_RATE}}}))\n"
    )
    pstat = station.potentiostat
    command = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while pstat.state.get(use_monitor=False) != TechniqueState.RUNNING:
            assert command.poll() is None, command.communicate()
            assert time.monotonic() < deadline, "the half cycle never started"
            time.sleep(0.05)
        assert pstat.cell_on.get(use_monitor=False) == Switch.ON
        command.send_signal(signum)
        signalled = time.monotonic()
        while pstat.cell_on.get(use_monitor=False) != Switch.OFF:
            assert time.monotonic() - signalled < 1.0, "the cell is still on 1 s after the signal"
            time.sleep(0.02)
        stdout, stderr = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
    name = signal.Signals(signum).name
    assert command.returncode == 128 + signum, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    assert f"{name} to acq run" in stderr and "aborted" in stderr
    stop = tiled_client["raw"][-1].metadata["stop"]
    assert stop["exit_status"] == "abort"
    assert name in stop["reason"]
