"""``acq queue`` keeps its queue server up: its HTTP server killed is restarted alone (one line
on stderr; the RE Manager untouched) and answers again with its API key; its own
``redis-server`` killed is restarted with the queue it held; the RE Manager's watchdog
killed is not restarted: ``acq queue`` stops with one line and exit status 1, and nothing it
started is left running.

``acq queue`` runs as a subprocess, for a hardware config (no ``[simulation]`` table) naming
the session's simulated station and Tiled server, so that it starts only its Redis, RE Manager
and HTTP server (in seconds), on ports of its own. Its worker environment stays closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from bluesky_queueserver_api import BPlan
from bluesky_queueserver_api.zmq import REManagerAPI

from acq.config import StationConfig, parse_config
from acq.services.ports import free_tcp_port
from tests.stations import write_toml
from tests.system.queue_server.acq_queue import AcqQueue, acq_queue

pytestmark = pytest.mark.redis

#: Wall seconds ``acq queue`` gets to serve (Redis, the plans listed, manager, HTTP server).
STARTUP_TIMEOUT_S = 120
#: Wall seconds a killed service gets to be restarted and answer, and ``acq queue`` to stop.
RESTART_TIMEOUT_S = 60
#: Command lines of ``acq queue``'s children (under `acq.tethered`), as psutil reports them.
HTTP_SERVER = "acq.queue_server.http_server"
RE_MANAGER = "acq.queue_server.re_manager"


@pytest.fixture(scope="module")
def queue_config(station_config, tiled_server, tmp_path_factory) -> StationConfig:
    """The session's station as a hardware config (no ``[simulation]``: its IOCs are served
    already, acq queue starts none), with a data directory (keys, logs, Redis) and ports of
    its own."""
    raw = station_config.model_dump(mode="json")
    raw["simulation"] = None
    raw["station"]["data_dir"] = str(tmp_path_factory.mktemp("acq_queue_data"))
    raw["tiled"].update(uri=tiled_server.uri, api_key=tiled_server.api_key)
    raw["analysis"].update(zmq_in_port=free_tcp_port(), zmq_out_port=free_tcp_port())
    raw["queue"].update(redis_port=free_tcp_port())
    return parse_config(raw)


@pytest.fixture(scope="module")
def served(simulated_station, queue_config, tmp_path_factory) -> Iterator[AcqQueue]:
    """``acq queue`` in front of the session's station."""
    directory = tmp_path_factory.mktemp("acq_queue")
    config_path = write_toml(queue_config, directory / "station.toml")
    with acq_queue(config_path, directory, STARTUP_TIMEOUT_S) as command:
        yield command


@pytest.fixture(scope="module")
def queue_directory(queue_config) -> Path:
    """Where acq queue keeps its keys and logs."""
    return queue_config.station.data_dir.resolve() / "queue"


@pytest.fixture(scope="module")
def api(served, queue_directory) -> Iterator[REManagerAPI]:
    """A 0MQ client of its RE Manager, with the public key."""
    client = REManagerAPI(
        zmq_control_addr=served.zmq_control_addr,
        zmq_public_key=(queue_directory / "zmq_public_key").read_text().strip(),
    )
    yield client
    client.close()


def child(served: AcqQueue, *words: str) -> psutil.Process:
    """The running process under ``acq queue`` whose command line holds every one of
    ``words``."""
    for process in psutil.Process(served.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE and all(
                word in process.cmdline() for word in words
            ):
                return process
    raise LookupError(f"no process {words} under acq queue")


def supervisor_line(served: AcqQueue, service: str, pid: int) -> str:
    """The line on stderr about ``service``'s process ``pid`` exiting, once it is there."""

    def found() -> list[str]:
        return [
            line
            for line in served.stderr().splitlines()
            if line.startswith(f"acq: {service}: ") and f"(pid {pid})" in line
        ]

    served.wait_for(found, RESTART_TIMEOUT_S, f"nothing said of {service} (pid {pid})")
    (line,) = found()
    return line


def http_status(served: AcqQueue, api_key: str | None) -> int:
    """The status code of ``/api/status``, with ``api_key`` (or none)."""
    headers = {"Authorization": f"ApiKey {api_key}"} if api_key else {}
    return httpx.get(f"{served.http_uri}/api/status", headers=headers, timeout=10).status_code


def test_startup_says_what_is_supervised(served):
    assert (
        "supervising HTTP server, Redis: one that exits is restarted (up to 3 times within "
        "600 s)" in served.stdout()
    )
    assert "if the watchdog itself exits the station stops" in served.stdout()


def test_a_killed_http_server_is_restarted_alone_and_answers_with_its_api_key(
    served, queue_directory
):
    api_key = (queue_directory / "api_key").read_text().strip()
    watchdog = child(served, RE_MANAGER)
    http = child(served, HTTP_SERVER)
    http.kill()
    line = supervisor_line(served, "HTTP server", http.pid)
    assert "exited with status -9 (SIGKILL); restarted (1 of 3" in line, line
    assert "the RE Manager, its queue and a running plan are untouched" in line
    assert str(queue_directory / "http_server.log") in line
    assert child(served, HTTP_SERVER).pid != http.pid
    served.wait_for(
        lambda: http_status(served, api_key) == 200, RESTART_TIMEOUT_S, "no answer over HTTP"
    )
    assert http_status(served, None) == 401
    assert child(served, RE_MANAGER).pid == watchdog.pid  # the manager was not touched


def test_a_killed_redis_is_restarted_with_the_queue_it_held(served, api, queue_config):
    port = str(queue_config.queue.redis_port)
    api.queue_clear()
    for pressure in (21, 22):
        api.item_add(BPlan("pressure_step", "press", pressure))
    queued = [item["item_uid"] for item in api.queue_get()["items"]]
    tether = child(served, "--exec", "--port", port)  # `acq.tethered` running redis-server
    (redis,) = tether.children()
    assert redis.name() == "redis-server"
    redis.kill()  # the tether exits with 128 + 9
    line = supervisor_line(served, "Redis", tether.pid)
    assert "exited with status 137; restarted (1 of 3" in line, line
    assert "the queue and history come back from its append-only file" in line
    assert child(served, "--exec", "--port", port).pid != tether.pid
    assert [item["item_uid"] for item in api.queue_get()["items"]] == queued
    api.queue_clear()


def test_a_killed_re_manager_watchdog_stops_acq_queue_with_one_line(served, queue_directory):
    # Last of the tests on `served`: it ends acq queue.
    watchdog = child(served, RE_MANAGER)
    started = psutil.Process(served.process.pid).children(recursive=True)
    assert len(started) >= 5  # Redis (its tether, redis-server), watchdog, manager, HTTP
    said_before = len(served.stderr())
    watchdog.kill()
    assert served.process.wait(timeout=RESTART_TIMEOUT_S) == 1, served.stderr()[-3000:]
    (line,) = served.stderr()[said_before:].splitlines()
    assert line.startswith(
        f"acq: RE Manager: {RE_MANAGER} (pid {watchdog.pid}) exited with status -9 (SIGKILL): "
        f"not restarted ("
    ), line
    assert line.endswith(f", the station stops (log {queue_directory / 're_manager.log'})")
    assert "Traceback" not in served.stdout() + served.stderr()
    _, alive = psutil.wait_procs(started, timeout=RESTART_TIMEOUT_S)
    for process in alive:
        process.kill()
    assert not alive, f"left running after acq queue stopped: {alive}"
