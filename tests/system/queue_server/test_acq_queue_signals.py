"""``acq queue`` as a user runs it, stopped by Ctrl-C or SIGTERM while a plan runs: the run
closes with exit_status "abort" and a reason, the cell is switched off, everything stops and
the command exits with 128 + the signal's number. Meanwhile no process it started listens
off loopback, and it prints where the keys are, never a key.

`acq queue` serves a station of its own (IOCs, embedded Tiled, analysis worker, Redis) on
ports of its own; it inherits this process's Channel Access port, so its potentiostat is read
from here.
"""

from __future__ import annotations

import signal
import socket

import psutil
import pytest
from bluesky_queueserver_api import BPlan
from bluesky_queueserver_api.zmq import REManagerAPI

from acq.beamline.station import make_potentiostat
from acq.queue_server import QUEUE_ABORT_REASON
from acq.runtime.tiled_client import connect
from acq.services import embedded_tiled
from acq.services.ports import free_tcp_port
from conventions.pv_states import Switch, TechniqueState
from tests.stations import small_station_config, write_toml
from tests.system.queue_server.acq_queue import acq_queue

#: A half cycle of ≈500 h of experiment time: ≈18 s on the test station's clock.
SLOW_C_RATE = 0.002
#: Wall seconds ``acq queue`` gets to serve (IOCs, Tiled, worker, Redis, manager, HTTP).
STARTUP_TIMEOUT_S = 300


def uses_libca(process: psutil.Process) -> bool:
    return any("libca.so" in mapped.path for mapped in process.memory_maps())


def off_loopback(root: psutil.Process) -> list[str]:
    """Sockets of ``root`` and its descendants bound off loopback, but the search-reply
    socket libca (a Channel Access client) binds to 0.0.0.0 with no setting to change it."""
    found = []
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
            libca = uses_libca(process)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        for connection in connections:
            if connection.raddr or connection.laddr.ip in ("127.0.0.1", "::1"):
                continue
            if connection.type == socket.SOCK_DGRAM and libca:
                continue
            found.append(f"{' '.join(process.cmdline()[:3])}: {connection}")
    return found


def environment_ready(status: dict) -> bool:
    """Whether the RE Manager is idle with its worker's environment open and idle."""
    return (
        status["manager_state"] == "idle"
        and status["worker_environment_exists"]
        and status["worker_environment_state"] == "idle"
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_acq_queue_aborts_the_running_plan_with_the_cell_off_then_stops(
    signum, tmp_path
):
    config = small_station_config(
        tmp_path / "data",
        analysis={"zmq_in_port": free_tcp_port(), "zmq_out_port": free_tcp_port()},
        queue={"redis_port": free_tcp_port()},
    )
    config_path = write_toml(config, tmp_path / "station.toml")
    queue = config.station.data_dir / "queue"
    with acq_queue(config_path, tmp_path, STARTUP_TIMEOUT_S) as served:
        api = REManagerAPI(
            zmq_control_addr=served.zmq_control_addr,
            zmq_public_key=(queue / "zmq_public_key").read_text().strip(),
        )
        pstat = make_potentiostat(config)
        try:
            api.environment_open()
            # The worker's environment open, not only the manager idle: under load the RE
            # Manager's own watchdog may restart the manager while the worker still loads
            # the station, and the restarted one is idle, with no plans allowed yet.
            api.wait_for_condition(environment_ready, timeout=180)
            api.item_add(BPlan("galvanostatic_cycles", "pstat", cycles=1, c_rate=SLOW_C_RATE))
            api.queue_start()
            pstat.wait_for_connection(timeout=30)
            served.wait_for(
                lambda: pstat.state.get(use_monitor=False) == TechniqueState.RUNNING,
                120,
                "the half cycle never started",
            )
            assert pstat.cell_on.get(use_monitor=False) == Switch.ON
            assert off_loopback(psutil.Process(served.process.pid)) == []

            served.process.send_signal(signum)
            served.wait_for(
                lambda: pstat.cell_on.get(use_monitor=False) == Switch.OFF,
                60,
                "the cell is still on",
            )
            served.process.wait(timeout=180)
        finally:
            api.close()
            pstat.destroy()
    text = served.stdout() + served.stderr()
    assert served.process.returncode == 128 + signum, text[-3000:]
    assert f"{signal.Signals(signum).name}: stopping the queue server" in text
    assert "Traceback" not in text, text[-3000:]
    for key_file in ("api_key", "zmq_private_key", "zmq_public_key"):
        assert (queue / key_file).read_text().strip() not in text, key_file
    assert str(queue / "zmq_public_key") in text and str(queue / "api_key") in text

    with embedded_tiled(config) as server:  # the station's catalog, served again
        run = connect(server.uri, server.api_key)["raw"][-1]
        start, stop = run.metadata["start"], run.metadata["stop"]
    assert start["plan_name"] == "galvanostatic_cycles"
    assert (stop["exit_status"], stop["reason"]) == ("abort", QUEUE_ABORT_REASON)
