"""The queue-server way in, against a real Redis: RE Manager with the station's startup module,
plans validated at submission, pause/resume/stop, the HTTP server with its API key, and runs
in Tiled and analysed by the worker.

One RE Manager (and HTTP server) for the module, on ports of its own and a Redis key prefix of
its own, in front of the session's simulated station, writing to a Tiled server of its own (so
the session's catalog holds only what other tests expect). Redis must be running on
127.0.0.1:6379 (CI starts it); without it every test here errors saying so.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
import uuid

import pytest
import redis
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
    """RE Manager and HTTP server of the session's station; their Redis keys removed after."""
    settings = QueueSettings(
        redis_name_prefix=f"ssb_test_{uuid.uuid4().hex[:12]}",
        zmq_control_port=free_tcp_port(),
        zmq_info_port=free_tcp_port(),
        http_port=free_tcp_port(),
    )
    try:
        with QueueServer(queue_config, settings, queue_tiled.uri, queue_tiled.api_key) as server:
            yield server
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379)
        for key in client.scan_iter(f"{settings.redis_name_prefix}*"):
            client.delete(key)
        client.close()


@pytest.fixture(scope="module")
def api(queue_server):
    """A 0MQ client of the RE Manager."""
    client = REManagerAPI(zmq_control_addr=queue_server.settings.zmq_control_addr)
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
    }
    for case, (plan, message) in refusals.items():
        with pytest.raises(idle_queue.RequestFailedError) as refused:
            idle_queue.item_add(plan)
        assert re.search(message, str(refused.value), re.DOTALL), (case, str(refused.value))
    assert idle_queue.queue_get()["items"] == []
    idle_queue.item_add(BPlan("pressure_step", "press", 25))  # a valid one is queued
    assert [item["name"] for item in idle_queue.queue_get()["items"]] == ["pressure_step"]


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


def test_the_queue_runs_a_series_and_a_ccd_into_tiled_and_the_analysis(
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
        BPlan(
            "critical_current_density",
            "pstat",
            start_mA_cm2=0.2,
            step_mA_cm2=0.2,
            max_mA_cm2=0.4,
            poll_interval_s=0.05,
        )
    )
    api.queue_start()
    api.wait_for_idle(timeout=QUEUE_TIMEOUT_S)

    history = api.history_get()["items"]
    assert [item["name"] for item in history] == ["pressure_series", "critical_current_density"]
    for item in history:
        assert item["result"]["exit_status"] == "completed", item["result"]
    series_uids, (ccd_uid,) = (item["result"]["run_uids"] for item in history)
    assert len(series_uids) == len(tiny.PRESSURES_MPA)

    raw = queue_tiled_client["raw"]
    for uid, pressure in zip(series_uids, tiny.PRESSURES_MPA, strict=True):
        start, stop = raw[uid].metadata["start"], raw[uid].metadata["stop"]
        assert stop["exit_status"] == "success"
        assert start["plan_name"] == "pressure_series" and start["pressure_MPa"] == pressure
        assert start["sample"] == queue_config.sample.id
        assert start["versions"]["bluesky"] == importlib.metadata.version("bluesky")
        assert raw[uid]["projection"]["det_image"].shape[0] == tiny.PROJECTIONS
    ccd = raw[ccd_uid].metadata
    assert ccd["start"]["plan_name"] == "critical_current_density"
    assert ccd["stop"]["exit_status"] == "success"

    try:
        analysis = wait_for_analysis(queue_tiled_client["analysis"], series_uids[0], timeout_s=120)
    except TimeoutError:
        pytest.fail(f"no analysis of a queued run; worker log:\n{analysis_worker.log_tail()}")
    assert analysis.metadata["start"]["raw_uid"] == series_uids[0]
