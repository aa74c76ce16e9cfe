"""Three simulated stations at once into one facility Tiled: each an ``acq queue`` of its own
(own PV prefix, Channel Access ports, RunEngine, queue server, Redis and analysis worker),
all running a pressure series at the same time into one Tiled deployment (two Tiled servers
behind HAProxy on a PostgreSQL database of this test's own, `acq.services.tiled_deployment`),
their documents through one NATS JetStream broker whose runs the three analysis workers share
as competing consumers. Every run is complete, found by station, by sample and by series, and
has one analysis run, linked to it."""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path

import pytest
from bluesky_queueserver_api import BPlan
from bluesky_queueserver_api.zmq import REManagerAPI
from tiled.queries import Key

from acq.analysis.results import analysis_runs_of, wait_for_analysis
from acq.runtime.tiled_client import connect
from acq.services.ports import free_channel_access_port, free_tcp_port
from acq.services.postgresql import drop_database
from acq.services.tiled_deployment import TiledDeployment
from conventions import data_keys
from tests.stations import small_station_config, write_toml
from tests.system import series_settings as tiny
from tests.system.nats_server import NatsServer
from tests.system.queue_server.acq_queue import acq_queue

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

POSTGRESQL = "postgresql://postgres@127.0.0.1:5432"

STATIONS = 3
#: Wall seconds for the three stations to start side by side on two cores.
STARTUP_TIMEOUT_S = 300
#: Wall seconds for every station's series, run at the same time.
SERIES_TIMEOUT_S = 600
DEVICES = ("press", "pstat", "tomo", "det")


def deployment_config(directory: Path, frames: list[Path]):
    """A config serving a deployment of two servers on a database of its own, which may read
    every station's frames."""
    port = free_tcp_port()
    return small_station_config(
        directory / "data",
        tiled={
            "uri": f"http://127.0.0.1:{port}",
            "deployment": {
                "postgresql": POSTGRESQL,
                "database": f"acq_test_{secrets.token_hex(4)}",
                "servers": 2,
                "port": port,
                "readable_dirs": [str(folder) for folder in frames],
            },
        },
    )


def station_config(index: int, directory: Path, tiled: TiledDeployment, broker: NatsServer):
    """Station ``index``: its own name, sample, ports and data, writing into ``tiled``."""
    ca_port = free_channel_access_port()
    return small_station_config(
        directory / "data",
        station={
            "name": f"station-{index}",
            "ca_server_port": ca_port,
            "ca_repeater_port": ca_port + 1,
        },
        sample={"id": f"sample-{index}"},
        tiled={"uri": tiled.uri, "api_key_file": str(tiled.key_path)},
        analysis={
            "zmq_in_port": free_tcp_port(),
            "zmq_out_port": free_tcp_port(),
            "broker_url": broker.url,
        },
        queue={"redis_port": free_tcp_port()},
    )


def series_plan() -> BPlan:
    return BPlan(
        "pressure_series",
        *DEVICES,
        pressures_MPa=tiny.PRESSURES_MPA,
        eis_points_per_decade=tiny.POINTS_PER_DECADE,
        ct_num_projections=tiny.PROJECTIONS,
        ct_num_darks=tiny.DARKS,
        ct_num_flats=tiny.FLATS,
        cycles=1,
        c_rate=0.1,
        poll_interval_s=0.05,
    )


def environment_ready(status: dict) -> bool:
    return (
        status["manager_state"] == "idle"
        and status["worker_environment_exists"]
        and status["worker_environment_state"] == "idle"
    )


def test_three_stations_run_series_at_once_into_one_tiled(tmp_path):
    folders = [tmp_path / f"station-{index}" for index in range(STATIONS)]
    frames = [folder / "data" / "frames" for folder in folders]
    for folder in frames:
        folder.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        served = deployment_config(tmp_path / "tiled", frames)
        tiled = TiledDeployment(served)
        stack.callback(drop_database, POSTGRESQL, served.tiled.deployment.database)
        tiled.start(stack)
        broker = NatsServer(tmp_path / "jetstream")
        broker.start()
        stack.callback(broker.stop)
        configs = [
            station_config(index, folder, tiled, broker) for index, folder in enumerate(folders)
        ]
        served = [
            stack.enter_context(
                acq_queue(write_toml(config, folder / "station.toml"), folder, STARTUP_TIMEOUT_S)
            )
            for config, folder in zip(configs, folders, strict=True)
        ]
        apis = []
        for config, queue in zip(configs, served, strict=True):
            key = (config.station.data_dir / "queue" / "zmq_public_key").read_text().strip()
            api = REManagerAPI(zmq_control_addr=queue.zmq_control_addr, zmq_public_key=key)
            stack.callback(api.close)
            api.environment_open()
            apis.append(api)
        for api in apis:
            api.wait_for_condition(environment_ready, timeout=STARTUP_TIMEOUT_S)
            api.item_add(series_plan())
        for api in apis:  # started together: the series run side by side
            api.queue_start()
        deadline = time.monotonic() + SERIES_TIMEOUT_S
        histories = []
        for api in apis:
            api.wait_for_idle(timeout=max(1.0, deadline - time.monotonic()))
            histories.append(api.history_get()["items"])

        client = connect(tiled.uri, tiled.key_path.read_text().strip())
        raw, analysis = client["raw"], client["analysis"]
        first_starts, last_stops = [], []
        for config, history in zip(configs, histories, strict=True):
            (item,) = history
            assert item["result"]["exit_status"] == "completed", item["result"]
            uids = item["result"]["run_uids"]
            assert len(uids) == len(tiny.PRESSURES_MPA)
            station = config.station.name
            assert sorted(raw.search(Key("station") == station)) == sorted(uids)
            assert sorted(raw.search(Key("sample") == config.sample.id)) == sorted(uids)
            series_uid = raw[uids[0]].metadata["start"]["series_uid"]
            assert sorted(raw.search(Key("series_uid") == series_uid)) == sorted(uids)
            for uid, pressure in zip(uids, tiny.PRESSURES_MPA, strict=True):
                run = raw[uid]
                start, stop = run.metadata["start"], run.metadata["stop"]
                assert stop["exit_status"] == "success"
                assert (start["station"], start["pressure_MPa"]) == (station, pressure)
                assert run["projection"]["det_image"].shape[0] == tiny.PROJECTIONS
                assert len(run["eis"][data_keys.SPECTRUM_Z_REAL].read()) == 1
                linked = wait_for_analysis(analysis, uid, timeout_s=SERIES_TIMEOUT_S)
                assert linked.metadata["start"]["raw_uid"] == uid
                assert len(analysis_runs_of(analysis, uid)) == 1  # one worker took it
            first_starts.append(raw[uids[0]].metadata["start"]["time"])
            last_stops.append(raw[uids[-1]].metadata["stop"]["time"])
        # At once, not one after another: every series started before any of them ended.
        assert max(first_starts) < min(last_stops)
