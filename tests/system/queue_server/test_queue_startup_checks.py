"""Checks of the queue-server way in that need no Redis: an unreachable Redis is reported at
once, and the pressure limit plans are validated against is the press IOC's."""

from __future__ import annotations

import socket
import subprocess
import sys

import epics
import pytest


def test_acq_queue_exits_with_a_clear_error_when_redis_is_unreachable(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "acq.cli", "queue", "--redis-addr", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"Redis at 127.0.0.1:{port} is not reachable" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_the_pressure_limit_is_the_press_iocs(simulated_station, station_config):
    # The feedback setpoint (`devices.press.PressureCell.setpoint`) and its control limits.
    setpoint = epics.get_pv(
        f"{station_config.station.prefix}{station_config.press.prefix}fb.VAL", auto_monitor=False
    )
    assert setpoint.wait_for_connection(timeout=30)
    limits = setpoint.get_ctrlvars(timeout=30)
    assert (limits["lower_ctrl_limit"], limits["upper_ctrl_limit"]) == pytest.approx(
        (0.0, station_config.max_pressure_MPa)
    )
