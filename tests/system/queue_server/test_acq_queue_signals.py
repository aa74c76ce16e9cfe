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
import subprocess
import sys
import time

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


def wait_for(condition, timeout_s: float, what: str, command: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert command.poll() is None, f"acq queue exited with {command.returncode}"
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


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
    control_port = free_tcp_port()
    queue_options = ["--zmq-control-port", str(control_port)]
    queue_options += ["--zmq-info-port", str(free_tcp_port())]
    queue_options += ["--http-port", str(free_tcp_port())]
    output = (tmp_path / "stdout.txt").open("w+")
    command = subprocess.Popen(
        [sys.executable, "-m", "acq.cli", "queue", "--config", str(config_path), *queue_options],
        cwd=tmp_path,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    queue = config.station.data_dir / "queue"
    api = None
    pstat = make_potentiostat(config)
    try:
        wait_for(
            lambda: "Ctrl-C stops" in (tmp_path / "stdout.txt").read_text(),
            STARTUP_TIMEOUT_S,
            "acq queue did not start",
            command,
        )
        api = REManagerAPI(
            zmq_control_addr=f"tcp://127.0.0.1:{control_port}",
            zmq_public_key=(queue / "zmq_public_key").read_text().strip(),
        )
        api.environment_open()
        api.wait_for_idle(timeout=180)
        api.item_add(BPlan("galvanostatic_cycles", "pstat", cycles=1, c_rate=SLOW_C_RATE))
        api.queue_start()
        pstat.wait_for_connection(timeout=30)
        wait_for(
            lambda: pstat.state.get(use_monitor=False) == TechniqueState.RUNNING,
            120,
            "the half cycle never started",
            command,
        )
        assert pstat.cell_on.get(use_monitor=False) == Switch.ON
        assert off_loopback(psutil.Process(command.pid)) == []

        command.send_signal(signum)
        wait_for(
            lambda: pstat.cell_on.get(use_monitor=False) == Switch.OFF,
            60,
            "the cell is still on",
            command,
        )
        command.wait(timeout=180)
    finally:
        if api is not None:
            api.close()
        pstat.destroy()
        if command.poll() is None:
            command.kill()
            command.wait()
    text = (tmp_path / "stdout.txt").read_text()
    assert command.returncode == 128 + signum, text[-3000:]
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
