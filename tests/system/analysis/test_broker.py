"""Documents through the durable broker: RunEngines publish to a real NATS JetStream server
(``nats-server -js``, started here on a port and store of its own so that it can be
restarted), analysis workers are competing consumers writing to a real Tiled.

Each run is analysed once however many workers run; a worker killed while it holds a run has
that run redelivered to another; a worker started late catches up; documents published before
a broker restart are analysed after it. No IOC: the runs are a RunEngine's own (the station's
start metadata, no devices), so the analysis is of empty runs, and what is tested is who
analyses which run, and how often.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import bluesky.plan_stubs as bps
import pytest

from acq.analysis.results import analysis_runs_of, wait_for_analysis
from acq.config import parse_config
from acq.runtime.engine import make_run_engine
from acq.runtime.tiled_client import connect
from acq.services import AnalysisWorkerProcess, EmbeddedTiled
from acq.services.ports import free_tcp_port
from tests.stations import small_station_config
from tests.system.nats_server import NatsServer

#: Wall seconds a killed worker's run waits before it is redelivered.
ACK_WAIT_S = 3.0
#: Wall seconds for a run's analysis to appear (worker start-up and redelivery included).
ANALYSIS_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def tiled(tmp_path_factory) -> Iterator[EmbeddedTiled]:
    data = tmp_path_factory.mktemp("broker-tiled")
    with EmbeddedTiled(data, [data]) as server:
        yield server


@pytest.fixture
def broker(tmp_path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def config(tmp_path, tiled, broker):
    return small_station_config(
        tmp_path / "data",
        tiled={"uri": tiled.uri, "api_key": tiled.api_key},
        analysis={"broker_url": broker.url, "broker_ack_wait_s": ACK_WAIT_S},
    )


def worker(config, tiled: EmbeddedTiled, name: str) -> AnalysisWorkerProcess:
    return AnalysisWorkerProcess(config, tiled.uri, tiled.api_key, name=name)


def held_run(release: threading.Event, timeout_s: float = 60.0):
    """A run of the station's metadata that stays open until ``release`` is set."""
    yield from bps.open_run()
    deadline = time.monotonic() + timeout_s
    while not release.is_set() and time.monotonic() < deadline:
        yield from bps.sleep(0.05)
    yield from bps.close_run()


def quick_run():
    yield from bps.open_run()
    yield from bps.close_run()


def analysed_once(client, uids: list[str]) -> None:
    """Each of ``uids`` has one analysis run (waited for), and no second one comes."""
    for uid in uids:
        wait_for_analysis(client["analysis"], uid, ANALYSIS_TIMEOUT_S)
    time.sleep(2 * ACK_WAIT_S)  # a second analysis, were there one, would be written by now
    assert [len(analysis_runs_of(client["analysis"], uid)) for uid in uids] == [1] * len(uids)


def test_two_workers_analyse_each_run_once(config, tiled):
    client = connect(tiled.uri, tiled.api_key)
    with (
        worker(config, tiled, "analysis worker a") as a,
        worker(config, tiled, "analysis worker b") as b,
    ):
        engine = make_run_engine(config, client, publish=True)
        uids = [engine.run(quick_run())[0] for _ in range(4)]
        engine.close()
        analysed_once(client, uids)
        logs = a.log_tail(200), b.log_tail(200)
    for uid in uids:
        claimed = [log.count(f"[{uid[:8]}] claimed") for log in logs]
        assert sorted(claimed) == [0, 1], (uid, logs)


def test_a_worker_killed_holding_a_run_has_it_redelivered_to_another(config, tiled):
    client = connect(tiled.uri, tiled.api_key)
    release = threading.Event()
    engine = make_run_engine(config, client, publish=True)
    with worker(config, tiled, "analysis worker a") as first:

        def kill_once_claimed() -> None:
            deadline = time.monotonic() + 30
            while "claimed" not in first.log_tail(50) and time.monotonic() < deadline:
                time.sleep(0.1)
            for process in first.processes:
                process.kill()
                process.wait()
            release.set()

        killer = threading.Thread(target=kill_once_claimed)
        killer.start()
        (uid,) = engine.run(held_run(release))
        killer.join()
        assert "claimed" in first.log_tail(50)
    engine.close()
    assert not analysis_runs_of(client["analysis"], uid)
    with worker(config, tiled, "analysis worker b") as second:
        analysed_once(client, [uid])
        assert f"[{uid[:8]}] claimed" in second.log_tail(200)


def test_a_late_worker_catches_up_on_runs_kept_across_a_broker_restart(config, tiled, broker):
    client = connect(tiled.uri, tiled.api_key)
    engine = make_run_engine(config, client, publish=True)
    uids = [engine.run(quick_run())[0] for _ in range(2)]
    engine.close()
    broker.stop()
    broker.start()
    with worker(config, tiled, "analysis worker late"):
        analysed_once(client, uids)


def test_a_broker_that_does_not_answer_is_one_clear_error(config):
    raw = config.model_dump(mode="json")
    raw["analysis"]["broker_url"] = f"nats://127.0.0.1:{free_tcp_port()}"
    with pytest.raises(ConnectionError, match=r"no NATS server answers at nats://127\.0\.0\.1:"):
        make_run_engine(parse_config(raw), publish=True)
