"""``acq serve`` keeps its children up: a simulated IOC, the embedded Tiled server or the
analysis worker killed is restarted (one line saying which, its exit status and its log) on
the same PV prefix, port and catalog; the restarted worker analyses the run it missed; a
child that keeps dying is given up on, and ``acq serve`` stops with one line and exit status
1. ``acq run`` against a station that is down names what did not connect.

``acq serve`` runs as a subprocess on a station of its own (PV prefix, Channel Access, Tiled
and 0MQ ports); its children are found with psutil.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from acq.analysis.results import analysis_runs_of, wait_for_analysis
from acq.cli import main
from acq.services.supervisor import MAX_RESTARTS
from tests.stations import small_station_config, write_toml
from tests.system.served_station import (
    RESTART_TIMEOUT_S,
    RUN_TIMEOUT_S,
    own_ports,
    serve,
    stop,
)

#: Command lines of the children, as psutil reports them.
IOC = ("simulated_devices", "--prefix")
TILED = ("serve", "config")
WORKER = ("acq.services.analysis_worker",)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``acq serve`` on a station of this module's own."""
    directory = tmp_path_factory.mktemp("served")
    station = serve(small_station_config(directory, **own_ports()), directory)
    yield station
    stop(station)


def test_a_killed_ioc_is_restarted_on_its_prefix_and_the_next_run_works(served):
    ioc = served.child(IOC)
    ioc.kill()
    line = served.wait_for_line("simulated IOCs", f"pid {ioc.pid}", "restarted")
    assert "status -9 (SIGKILL)" in line
    assert str(served.config.station.data_dir / "services" / "ioc.log") in line
    assert "initial state" in line
    assert served.child(IOC).pid != ioc.pid
    served.run_plan()


def test_a_run_the_killed_worker_missed_is_analysed_once_it_is_restarted(served):
    analysis = served.client()["analysis"]
    before = served.run_plan()
    wait_for_analysis(analysis, before, RUN_TIMEOUT_S)
    # acq serve stopped (SIGSTOP) while the worker is killed and a run made: the run is over
    # before the worker can be restarted, whatever the machine's load.
    worker = served.child(WORKER)
    os.kill(served.process.pid, signal.SIGSTOP)
    try:
        worker.kill()
        missed = served.run_plan()
    finally:
        os.kill(served.process.pid, signal.SIGCONT)
    line = served.wait_for_line("analysis worker", f"pid {worker.pid}", "restarted")
    assert "status -9 (SIGKILL)" in line and "analysis_worker.log" in line
    caught_up = wait_for_analysis(analysis, missed, RUN_TIMEOUT_S)
    assert caught_up.metadata["start"]["caught_up"] is True
    assert caught_up.metadata["stop"]["exit_status"] == "success"
    assert len(analysis_runs_of(analysis, before)) == 1  # not analysed again


def test_a_killed_tiled_is_restarted_on_its_catalog(served):
    uid = served.run_plan()
    tiled = served.child(TILED)
    tiled.kill()
    line = served.wait_for_line("Tiled server", f"pid {tiled.pid}", "restarted")
    assert "status -9 (SIGKILL)" in line and "server.log" in line
    assert uid in served.client()["raw"]
    served.run_plan()


def test_a_child_that_keeps_exiting_is_given_up_on_and_serve_exits_1(served):
    # Last of the tests on `served`: it ends acq serve. The worker is killed until the
    # supervisor gives up (3 restarts within 600 s, the earlier tests' included).
    for _ in range(MAX_RESTARTS + 1):
        worker = served.child(WORKER)
        children = psutil.Process(served.process.pid).children()
        worker.kill()
        line = served.wait_for_line(f"pid {worker.pid}")
        if "restarted" not in line:
            break
    assert served.process.wait(timeout=RESTART_TIMEOUT_S) == 1
    assert line.startswith("acq: analysis worker: ") and "given up" in line, line
    assert "status -9 (SIGKILL)" in line and "analysis_worker.log" in line
    assert any(
        f"({MAX_RESTARTS} of {MAX_RESTARTS} restarts allowed" in seen for seen in served.seen
    )
    rest = list(served.lines.queue)
    assert not [later for later in rest if later.startswith("acq:")], rest
    assert "Traceback" not in "\n".join(served.seen + rest)
    assert not [child for child in children if child.is_running()]  # every service stopped


def test_acq_run_against_a_station_that_is_down_names_what_did_not_connect(tmp_path, capfd):
    config_file = write_toml(small_station_config(tmp_path), tmp_path / "station.toml")
    status = main(
        ["run", "pressure_step", "--param", "pressure_MPa=10", "--config", str(config_file)]
    )
    out, err = capfd.readouterr()
    assert status == 1, out[-2000:] + err[-3000:]
    assert "Traceback" not in out + err, err[-3000:]
    (line,) = [line for line in err.splitlines() if line.startswith("acq:")]
    assert "did not connect" in line
    for device in ("press", "pstat", "tomo", "pc", "det"):
        assert f" {device} (" in line
