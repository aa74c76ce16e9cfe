"""The queue-server way in, against a real Redis: RE Manager with the station's startup module,
plans validated at submission, pause/resume/stop, the HTTP server with its API key, the 0MQ
control port encrypted, the queue surviving Redis restarts and the queue server's own
``manager_kill`` and ``environment_destroy``, and runs in Tiled and analysed by the worker.

One RE Manager (and HTTP server, and the station's own persistent Redis) for the module, on
ports of its own, in front of the session's simulated station, writing to a Tiled server of
its own (so the session's catalog holds only what other tests expect).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from bluesky_queueserver import CommTimeoutError
from bluesky_queueserver_api import BPlan
from bluesky_queueserver_api.http import REManagerAPI as HTTPManagerAPI
from bluesky_queueserver_api.zmq import REManagerAPI

from acq.analysis.results import wait_for_analysis
from acq.config import parse_config
from acq.queue_server.launch import QueueServer, QueueSettings
from acq.runtime.tiled_client import connect
from acq.services import AnalysisWorkerProcess, EmbeddedTiled
from acq.services.ports import free_tcp_port
from tests.system import series_settings as tiny

pytestmark = pytest.mark.redis

#: The station's devices as a pressure series takes them.
SERIES_DEVICES = ("press", "pstat", "tomo", "det")
#: Wall seconds a queue gets to finish.
QUEUE_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def queue_config(station_config):
    """The session's station with 0MQ ports of its own for the analysis stream."""
    raw = station_config.model_dump(mode="json")
    raw["analysis"].update(zmq_in_port=free_tcp_port(), zmq_out_port=free_tcp_port())
    return parse_config(raw)


@pytest.fixture(scope="module")
def queue_tiled(tmp_path_factory, queue_config):
    """A Tiled server for the queue's runs (the detector's frames readable)."""
    directory = tmp_path_factory.mktemp("queue_tiled")
    with EmbeddedTiled(directory, [queue_config.frames_dir]) as server:
        yield server


@pytest.fixture(scope="module")
def queue_tiled_client(queue_tiled):
    """A client of the queue's Tiled server (``raw``, ``analysis``)."""
    return connect(queue_tiled.uri, queue_tiled.api_key)


@pytest.fixture
def analysis_worker(queue_config, queue_tiled):
    """The analysis worker on the 0MQ stream the queue's RunEngine publishes to (for one test:
    its fits and reconstructions would slow the others down)."""
    with AnalysisWorkerProcess(queue_config, queue_tiled.uri, queue_tiled.api_key) as worker:
        yield worker


@pytest.fixture(scope="module")
def queue_server(queue_config, simulated_station, queue_tiled):
    """RE Manager, HTTP server and Redis of the session's station."""
    settings = QueueSettings(
        redis_port=free_tcp_port(),
        redis_name_prefix="qs_test",
        zmq_control_port=free_tcp_port(),
        zmq_info_port=free_tcp_port(),
        http_port=free_tcp_port(),
    )
    with QueueServer(queue_config, settings, queue_tiled.uri, queue_tiled.api_key) as server:
        yield server


@pytest.fixture(scope="module")
def api(queue_server):
    """A 0MQ client of the RE Manager, with its public key."""
    client = REManagerAPI(
        zmq_control_addr=queue_server.settings.zmq_control_addr,
        zmq_public_key=queue_server.zmq_keys.public,
    )
    yield client
    client.close()


@pytest.fixture
def idle_queue(api):
    """The RE Manager idle, with an empty queue and history."""
    if api.status()["manager_state"] == "paused":  # as a failed test may leave it
        api.re_abort()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    api.queue_clear()
    api.history_clear()
    return api


@pytest.fixture
def environment(idle_queue):
    """The RE Manager with its worker environment open (the station built and connected)."""
    if not idle_queue.status()["worker_environment_exists"]:
        idle_queue.environment_open()
        idle_queue.wait_for_idle(timeout=120)
        assert idle_queue.status()["worker_environment_exists"], "environment did not open"
    return idle_queue


def series_plan(pressures_MPa, **settings) -> BPlan:
    return BPlan("pressure_series", *SERIES_DEVICES, pressures_MPa=pressures_MPa, **settings)


def wait_for_open_run(api: REManagerAPI, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not api.re_runs(option="open")["run_list"]:
        assert time.monotonic() < deadline, "no run opened"
        time.sleep(0.05)


def test_item_add_refuses_unknown_devices_out_of_range_pressures_and_wrong_types(
    idle_queue, queue_config
):
    # The worker environment is closed: the lists the manager validates against are the
    # generated existing-plans-and-devices file and the permissions file.
    assert not idle_queue.status()["worker_environment_exists"]
    limit = f"{queue_config.max_pressure_MPa:g}"
    refusals = {
        "unknown device": (
            BPlan("pressure_step", "press2", 25),
            r"press\s+Input should be 'press'.*input_value='press2'",
        ),
        "unknown device in a list": (
            BPlan("eis_sweep", "pstat", detectors=["press", "cam"]),
            r"detectors\.1\s+Input should be .*input_value='cam'",
        ),
        "pressure above the rating": (
            series_plan([6, 500]),
            rf"key='pressures_MPa'.*Value 500 is out of range "
            rf"\[0, {limit}\]",
        ),
        "negative pressure": (
            BPlan("pressure_step", "press", -5),
            rf"key='pressure_MPa'.*Value -5 is out of range \[0, {limit}\]",
        ),
        "wrong type": (
            series_plan([6], eis_points_per_decade="ten"),
            r"eis_points_per_decade\s+Input should be a valid integer",
        ),
        "unknown mode": (
            BPlan("critical_current_density", "pstat", mode="voltage"),
            r"mode\s+Input should be 'time' or 'capacity'",
        ),
        "md setting the recorded pressure": (
            BPlan("pressure_step", "press", 25, md={"pressure_MPa": 100}),
            r"pressure_step: md may not set pressure_MPa",
        ),
        "md setting the station and cell": (
            BPlan("eis_sweep", "pstat", md={"station": "fake", "cell": {"area_cm2": 9}}),
            r"eis_sweep: md may not set cell, station",
        ),
    }
    for case, (plan, message) in refusals.items():
        with pytest.raises(idle_queue.RequestFailedError) as refused:
            idle_queue.item_add(plan)
        assert re.search(message, str(refused.value), re.DOTALL), (case, str(refused.value))
    assert idle_queue.queue_get()["items"] == []
    idle_queue.item_add(BPlan("pressure_step", "press", 25))  # a valid one is queued
    assert [item["name"] for item in idle_queue.queue_get()["items"]] == ["pressure_step"]


#: Numbers each of the parameters below must refuse at ``item_add``, and what the refusal says.
BAD_NUMBERS = {
    "NaN": (math.nan, r"= nan: every number must be finite"),
    "inf": (math.inf, r"Value inf is out of range|= inf: every number must be finite"),
    "-1": (-1, r"Value -1 is out of range"),
    "1e9": (1e9, r"Value 1000000000(\.0)? is out of range"),
    "a string": ("ten", r"Input should be a valid number"),
}
#: A plan taking each parameter, given the value under test.
NUMBER_PARAMETERS = {
    "pressure_MPa": lambda value: BPlan("pressure_step", "press", pressure_MPa=value),
    "c_rate": lambda value: BPlan("galvanostatic_cycles", "pstat", c_rate=value),
    "poll_interval_s": lambda value: BPlan(
        "galvanostatic_cycles", "pstat", c_rate=0.1, poll_interval_s=value
    ),
    "exposure_s": lambda value: BPlan("ct_scan", "tomo", "det", exposure_s=value),
}


#: Values the queue server's inclusive ``min`` lets through and the plans' checks of their
#: arguments refuse (`conventions.plan_arguments`): 0 where a parameter must be positive,
#: below 0 where it cannot be negative.
OUT_OF_SIGN = {
    "c_rate": BPlan("galvanostatic_cycles", "pstat", c_rate=0),
    "exposure_s": BPlan("ct_scan", "tomo", "det", exposure_s=0.0),
    "max_duration_s": BPlan("galvanostatic_cycles", "pstat", c_rate=0.1, max_duration_s=0),
    "record_interval_s": BPlan(
        "galvanostatic_cycles", "pstat", c_rate=0.1, record_interval_s=-1.0
    ),
}


#: Arguments each in range but refused together by the plan's check, and what it says.
REFUSED_TOGETHER = {
    "both rates": (
        BPlan("galvanostatic_cycles", "pstat", c_rate=0.1, current_density_mA_cm2=0.1),
        "give exactly one of c_rate and current_density_mA_cm2",
    ),
    "no rate": (BPlan("galvanostatic_cycles", "pstat"), "give exactly one of c_rate"),
    "cut-offs reversed": (
        BPlan("galvanostatic_cycles", "pstat", c_rate=0.1, lower_cutoff_V=4.0),
        r"lower_cutoff_V \(4.0 V\) must be below upper_cutoff_V \(3.68 V\)",
    ),
    "no cycles": (
        BPlan("galvanostatic_cycles", "pstat", c_rate=0.1, cycles=0),
        "cycles must be an integer ≥ 1",
    ),
    "a trace beyond the buffer": (
        BPlan(
            "galvanostatic_cycles", "pstat", c_rate=0.1, max_duration_s=1e6, record_interval_s=1
        ),
        "overflows the",
    ),
    "a staircase going down": (
        BPlan("critical_current_density", "pstat", start_mA_cm2=2.0, max_mA_cm2=1.0),
        r"max_mA_cm2 \(1.0\) is below start_mA_cm2 \(2.0\)",
    ),
    "a series with too few projections": (
        BPlan("pressure_series", *SERIES_DEVICES, ct_num_projections=1),
        "num_projections must be an integer ≥ 2",
    ),
}


def refusal_over_0mq(api: REManagerAPI, plan: BPlan) -> str:
    with pytest.raises(api.RequestFailedError) as refused:
        api.item_add(plan)
    return str(refused.value)


def refusal_over_http(queue_server, plan: BPlan) -> str:
    """The message of an ``item_add`` over HTTP refused, the body written as ``curl`` would
    send it (``NaN`` and ``Infinity`` as bare tokens: JSON clients refuse to write them):
    the HTTP server's 400 for a body that is not JSON, else the RE Manager's refusal."""
    response = httpx.post(
        f"{queue_server.settings.http_uri}/api/queue/item/add",
        content=json.dumps({"item": plan.to_dict()}),
        headers={
            "Authorization": f"ApiKey {queue_server.api_key}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    if response.status_code == 400:
        return response.json()["detail"]
    response.raise_for_status()
    answer = response.json()
    assert answer["success"] is False, answer
    return answer["msg"]


def test_item_add_refuses_nan_inf_negative_zero_huge_mistyped_and_inconsistent_arguments(
    idle_queue, queue_server
):
    for way in ("0MQ", "HTTP"):
        for parameter, plan in NUMBER_PARAMETERS.items():
            for case, (value, message) in BAD_NUMBERS.items():
                text = (
                    refusal_over_0mq(idle_queue, plan(value))
                    if way == "0MQ"
                    else refusal_over_http(queue_server, plan(value))
                )
                assert parameter in text and re.search(message, text), (way, parameter, case, text)
        for parameter, plan in OUT_OF_SIGN.items():
            text = (
                refusal_over_0mq(idle_queue, plan)
                if way == "0MQ"
                else refusal_over_http(queue_server, plan)
            )
            assert re.search(rf"{parameter} (must be positive|cannot be negative)", text), (
                way,
                parameter,
                text,
            )
        for case, (plan, message) in REFUSED_TOGETHER.items():
            text = (
                refusal_over_0mq(idle_queue, plan)
                if way == "0MQ"
                else refusal_over_http(queue_server, plan)
            )
            assert re.search(message, text), (way, case, text)
    assert idle_queue.queue_get()["items"] == []


def test_pause_resume_and_stop_through_the_api(environment):
    api = environment
    pressures = [6, 8, 10, 12, 14]
    series = series_plan(
        pressures, eis_points_per_decade=tiny.POINTS_PER_DECADE, ct_num_projections=0, cycles=0
    )

    api.item_add(series)
    api.queue_start()
    wait_for_open_run(api)
    # Takes effect at the next checkpoint: before this run's sweep or before the next run.
    api.re_pause(option="deferred")
    api.wait_for_idle_or_paused(timeout=QUEUE_TIMEOUT_S)
    status = api.status()
    assert (status["manager_state"], status["re_state"]) == ("paused", "paused")
    api.re_resume()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    (resumed,) = api.history_get()["items"]
    assert resumed["result"]["exit_status"] == "completed"
    assert len(resumed["result"]["run_uids"]) == len(pressures)  # no run twice, none lost

    api.item_add(series)
    api.queue_start()
    wait_for_open_run(api)
    api.re_pause(option="immediate")
    api.wait_for_idle_or_paused(timeout=QUEUE_TIMEOUT_S)
    assert api.status()["manager_state"] == "paused"
    api.re_stop()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    stopped = api.history_get()["items"][-1]
    assert stopped["result"]["exit_status"] == "stopped"
    assert 1 <= len(stopped["result"]["run_uids"]) < len(pressures)
    assert api.queue_get()["items"] == []  # a stopped plan is not put back


def test_the_http_server_takes_plans_with_its_api_key_and_refuses_them_without(
    environment, queue_server
):
    uri = queue_server.settings.http_uri
    anonymous = HTTPManagerAPI(http_server_uri=uri)
    for request in (
        anonymous.status,
        lambda: anonymous.item_add(BPlan("pressure_step", "press", 25)),
    ):
        with pytest.raises(anonymous.HTTPClientError) as refused:
            request()
        assert refused.value.response.status_code in (401, 403)
    anonymous.close()

    remote = HTTPManagerAPI(http_server_uri=uri)
    remote.set_authorization_key(api_key=queue_server.api_key)
    with pytest.raises(remote.RequestFailedError, match="out of range"):
        remote.item_add(BPlan("pressure_step", "press", 1000))
    remote.item_add(BPlan("pressure_step", "press", 20))
    remote.queue_start()
    remote.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    (item,) = remote.history_get()["items"]
    assert (item["name"], item["result"]["exit_status"]) == ("pressure_step", "completed")
    remote.close()


def test_the_queue_runs_a_series_and_a_cycling_into_tiled_and_the_analysis(
    environment, queue_tiled_client, queue_config, analysis_worker
):
    api = environment
    api.item_add(
        series_plan(
            tiny.PRESSURES_MPA,
            position_compare="pc",
            eis_points_per_decade=tiny.POINTS_PER_DECADE,
            ct_num_projections=tiny.PROJECTIONS,
            ct_num_darks=tiny.DARKS,
            ct_num_flats=tiny.FLATS,
            cycles=1,
            c_rate=0.1,
            poll_interval_s=0.05,
        )
    )
    api.item_add(
        BPlan("galvanostatic_cycles", "pstat", cycles=1, c_rate=2.0, poll_interval_s=0.05)
    )
    api.queue_start()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)

    history = api.history_get()["items"]
    assert [item["name"] for item in history] == ["pressure_series", "galvanostatic_cycles"]
    for item in history:
        assert item["result"]["exit_status"] == "completed", item["result"]
    series_uids, (cycling_uid,) = (item["result"]["run_uids"] for item in history)
    assert len(series_uids) == len(tiny.PRESSURES_MPA)

    raw = queue_tiled_client["raw"]
    for uid, pressure in zip(series_uids, tiny.PRESSURES_MPA, strict=True):
        start, stop = raw[uid].metadata["start"], raw[uid].metadata["stop"]
        assert stop["exit_status"] == "success"
        assert start["plan_name"] == "pressure_series" and start["pressure_MPa"] == pressure
        assert start["sample"] == queue_config.sample.id
        assert start["versions"]["bluesky"] == importlib.metadata.version("bluesky")
        assert raw[uid]["projection"]["det_image"].shape[0] == tiny.PROJECTIONS
    cycling = raw[cycling_uid].metadata
    assert cycling["start"]["plan_name"] == "galvanostatic_cycles"
    assert cycling["stop"]["exit_status"] == "success"
    # The station's press, filled in as acq run fills it: recorded and holding the run.
    assert cycling["start"]["plan_args"]["press"] == "press"
    assert len(raw[cycling_uid]["trace"]["press_pressure_MPa"].read()) > 0

    try:
        analysis = wait_for_analysis(queue_tiled_client["analysis"], series_uids[0], timeout_s=120)
    except TimeoutError:
        pytest.fail(f"no analysis of a queued run; worker log:\n{analysis_worker.log_tail()}")
    assert analysis.metadata["start"]["raw_uid"] == series_uids[0]


#: A C-rate whose half cycle takes a few wall seconds on the test station's clock.
SLOW_C_RATE = 0.01


def slow_cycle() -> BPlan:
    return BPlan("galvanostatic_cycles", "pstat", cycles=1, c_rate=SLOW_C_RATE)


def uids(items: list[dict]) -> list[str]:
    return [item["item_uid"] for item in items]


def test_the_queue_and_history_survive_a_redis_restart(environment, queue_server):
    api = environment
    api.item_add(BPlan("pressure_step", "press", 20))
    api.queue_start()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    for pressure in (21, 22, 23):
        api.item_add(BPlan("pressure_step", "press", pressure))
    queue, history = api.queue_get()["items"], api.history_get()["items"]
    assert (len(queue), len(history)) == (3, 1)

    queue_server.redis.stop()
    queue_server.redis.start()  # the same data directory: its append-only file replayed

    assert uids(api.queue_get()["items"]) == uids(queue)
    assert uids(api.history_get()["items"]) == uids(history)
    api.queue_start()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    assert api.queue_get()["items"] == []
    history = api.history_get()["items"]
    assert [item["result"]["exit_status"] for item in history] == ["completed"] * 4


def test_a_plan_running_across_a_redis_restart_completes_into_the_history(
    environment, queue_server
):
    api = environment
    api.item_add(slow_cycle())
    api.item_add(BPlan("pressure_step", "press", 20))
    api.queue_start()
    wait_for_open_run(api)
    queue_server.redis.stop()
    queue_server.redis.start()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)  # not stuck in executing_queue
    history = api.history_get()["items"]
    assert [(item["name"], item["result"]["exit_status"]) for item in history] == [
        ("galvanostatic_cycles", "completed"),
        ("pressure_step", "completed"),
    ]
    assert len(history[0]["result"]["run_uids"]) == 1


def wait_until_answering(queue_server, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not queue_server._manager_answers():
        assert time.monotonic() < deadline, "the RE Manager was not restarted"
        time.sleep(0.5)


def test_after_manager_kill_the_restarted_manager_has_the_queue_and_runs_it(
    environment, queue_server
):
    api = environment
    for pressure in (21, 22):
        api.item_add(BPlan("pressure_step", "press", pressure))
    queue = uids(api.queue_get()["items"])
    killer = queue_server.manager_api(timeout_s=1.0)
    with pytest.raises((CommTimeoutError, killer.RequestTimeoutError)):  # it blocks for good
        killer.send_request(method="manager_kill")
    killer.close()
    wait_until_answering(queue_server)  # the watchdog started a new manager process
    status = api.status()
    assert status["worker_environment_exists"] and status["manager_state"] == "idle"
    assert uids(api.queue_get()["items"]) == queue
    api.queue_start()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    history = api.history_get()["items"]
    assert [item["result"]["exit_status"] for item in history] == ["completed"] * 2


def test_environment_destroy_mid_plan_puts_the_plan_back_and_records_the_failure(
    environment, station
):
    api = environment
    api.item_add(slow_cycle())
    (queued,) = api.queue_get()["items"]
    api.queue_start()
    wait_for_open_run(api)
    api.environment_destroy()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)
    assert not api.status()["worker_environment_exists"]
    (failed,) = api.history_get()["items"]
    assert failed["result"]["exit_status"] == "failed"
    assert "environment was destroyed" in failed["result"]["msg"]
    (back,) = api.queue_get()["items"]  # at the front again, under a new uid
    assert back["name"] == queued["name"] and back["kwargs"] == queued["kwargs"]
    api.queue_clear()


def test_the_control_port_answers_only_clients_with_the_public_key(queue_server, api):
    assert "QSERVER_ZMQ_PUBLIC_KEY" not in os.environ
    address = queue_server.settings.zmq_control_addr
    plain = REManagerAPI(zmq_control_addr=address, timeout_recv=2.0)
    with pytest.raises(plain.RequestTimeoutError):  # CurveZMQ: no answer without the key
        plain.status()
    plain.close()
    assert api.status()["manager_state"] in ("idle", "executing_queue", "paused")

    qserver = [str(Path(sys.executable).with_name("qserver")), "-a", address, "status"]
    key = {"QSERVER_ZMQ_PUBLIC_KEY": queue_server.zmq_keys.public_key_path.read_text().strip()}
    answered = subprocess.run(
        qserver, env={**os.environ, **key}, capture_output=True, text=True, timeout=60
    )
    assert answered.returncode == 0 and "manager_state" in answered.stdout, answered.stderr
    refused = subprocess.run(qserver, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0


def service_processes(queue_server) -> list[psutil.Process]:
    """Every live process of the queue server, its HTTP server and its Redis, with their
    children (the manager's watchdog, manager and worker processes; a manager the watchdog
    replaced after ``manager_kill`` stays a zombie)."""
    found = []
    for popen in [
        *queue_server.processes,
        *queue_server.http.processes,
        *queue_server.redis.processes,
    ]:
        process = psutil.Process(popen.pid)
        found += [process, *process.children(recursive=True)]
    return [process for process in found if process.status() != psutil.STATUS_ZOMBIE]


def uses_libca(process: psutil.Process) -> bool:
    return any("libca.so" in mapped.path for mapped in process.memory_maps())


def test_keys_are_on_no_command_line_in_no_log_and_every_listener_is_on_loopback(
    environment, queue_server
):
    uri = queue_server.settings.http_uri
    # A client passing the key in the query: uvicorn's access log must not keep it.
    httpx.get(f"{uri}/api/status?api_key={queue_server.api_key}", timeout=10).raise_for_status()
    keys = {
        "HTTP API key": queue_server.api_key,
        "0MQ private key": queue_server.zmq_keys.private,
        "0MQ public key": queue_server.zmq_keys.public,
    }
    processes = service_processes(queue_server)
    assert len(processes) >= 5  # Redis, watchdog, manager, worker, HTTP server
    for process in processes:
        command_line = " ".join(process.cmdline())
        for name, key in keys.items():
            assert key not in command_line, f"{name} on the command line of {process}"
        for connection in process.net_connections(kind="inet"):
            if connection.raddr or connection.laddr.ip in ("127.0.0.1", "::1"):
                continue
            # libca (the worker's Channel Access client) binds its search-reply socket to
            # 0.0.0.0: EPICS base has no setting for it. Nothing else may be off loopback.
            assert connection.type == socket.SOCK_DGRAM and uses_libca(process), (
                process,
                connection,
            )
    directory = queue_server.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():  # the keys, logs, config; Redis's directory
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
        if path.suffix == ".log":
            text = path.read_text()
            for name, key in keys.items():
                assert key not in text, f"{name} in {path}"
