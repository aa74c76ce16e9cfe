"""``acq tiled serve``: the session's station streams through a deployment of two Tiled
servers behind HAProxy on a PostgreSQL catalog of its own (README, "Scaling").

A pressure point (EIS arrays, cycling tables, a fly CT's frames as an HDF5 stream resource)
run with ``acq run`` reads back the same through each server; the catalog was initialised
once, by ``acq tiled serve`` before any server; every listener is on loopback and the key on
no command line; a server killed with SIGKILL costs no request (HAProxy sends it to the other)
and is restarted on its port; served again on the same database the catalog is not
initialised again and the run is still there.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import threading
from pathlib import Path

import asyncpg
import numpy as np
import psutil
import pytest

from acq.cli import main
from acq.config import parse_config
from acq.runtime.tiled_client import connect, endpoint
from acq.services.ports import free_tcp_port
from acq.services.postgresql import database_uri, drop_database
from tests.stations import write_toml
from tests.system import series_settings as tiny
from tests.system.served_station import (
    ACQ,
    SERVE_TIMEOUT_S,
    ServedStation,
    _read_lines,
    stop,
)

pytestmark = pytest.mark.postgresql

POSTGRESQL = "postgresql://postgres@127.0.0.1:5432"
SERVERS = 2


def serve_deployment(config, config_file: Path) -> ServedStation:
    """``acq tiled serve`` of ``config_file``, once it says it serves."""
    process = subprocess.Popen(
        [ACQ, "tiled", "serve", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = ServedStation(config, config_file, dict(os.environ), process)
    threading.Thread(target=_read_lines, args=(process.stdout, served.lines), daemon=True).start()
    served.wait_for_line("Ctrl-C stops", timeout_s=SERVE_TIMEOUT_S)
    return served


def server_ports(served: ServedStation) -> list[int]:
    """The servers' own ports, as ``acq tiled serve`` names them."""
    line = next(line for line in served.seen if line.startswith("Tiled deployment at"))
    found = re.search(r"\(ports ([\d, ]+)\)", line)
    assert found, line
    return [int(port) for port in found.group(1).split(", ")]


@pytest.fixture(scope="module")
def deployment(station, session_config, tmp_path_factory):
    """The session station's config pointed at a deployment of its own (a database made for
    this module, dropped after it), and that deployment serving."""
    database = f"acq_test_{secrets.token_hex(4)}"
    port = free_tcp_port()
    raw = session_config.model_dump(mode="json")
    key_file = session_config.station.data_dir.resolve() / "tiled_deployment" / "api_key"
    raw["tiled"] = {
        "uri": f"http://127.0.0.1:{port}",
        "api_key_file": str(key_file),
        "deployment": {
            "postgresql": POSTGRESQL,
            "database": database,
            "servers": SERVERS,
            "port": port,
        },
    }
    config = parse_config(raw)
    config_file = write_toml(config, tmp_path_factory.mktemp("deployment") / "station.toml")
    served = serve_deployment(config, config_file)
    yield served
    stop(served)
    drop_database(POSTGRESQL, database)


@pytest.fixture(scope="module")
def point_run(deployment) -> str:
    """One pressure point run with ``acq run`` through the deployment: its uid."""
    argv = ["run", "pressure_series", "--config", str(deployment.config_file)]
    params = {
        "pressures_MPa": "[6.0]",
        "eis_points_per_decade": str(tiny.POINTS_PER_DECADE),
        "ct_num_projections": str(tiny.PROJECTIONS),
        "ct_num_darks": str(tiny.DARKS),
        "ct_num_flats": str(tiny.FLATS),
        "c_rate": "0.1",
        "poll_interval_s": "0.05",
    }
    for name, value in params.items():
        argv += ["--param", f"{name}={value}"]
    assert main([*argv, "--analysis-wait-s", "0"]) == 0
    uri, api_key = endpoint(deployment.config)
    return connect(uri, api_key)["raw"].values().last().metadata["start"]["uid"]


def read_back(uri: str, api_key: str, uid: str) -> dict[str, np.ndarray]:
    """What the run holds of each kind of storage, read through the server at ``uri``."""
    run = connect(uri, api_key)["raw"][uid]
    return {
        "eis_z_imag_ohm": np.asarray(run["eis"]["pstat_eis_z_imag_ohm"].read()),  # zarr
        "capacity_mAh": np.asarray(run["half_cycle"]["pstat_galvanostatic_capacity_mAh"].read()),
        "projections": np.asarray(run["projection"]["det_image"].read()),  # the IOC's HDF5
    }


def test_a_run_streamed_through_the_deployment_reads_the_same_through_each_server(
    deployment, point_run
):
    uri, api_key = endpoint(deployment.config)
    assert connect(uri, api_key)["raw"][point_run].metadata["stop"]["exit_status"] == "success"
    through_balancer = read_back(uri, api_key, point_run)
    assert through_balancer["projections"].shape[0] == tiny.PROJECTIONS
    assert through_balancer["eis_z_imag_ohm"].shape[0] == 1
    assert through_balancer["capacity_mAh"].shape == (2,)  # charge and discharge
    ports = server_ports(deployment)
    assert len(ports) == SERVERS
    for port in ports:
        through_server = read_back(f"http://127.0.0.1:{port}", api_key, point_run)
        for name, values in through_balancer.items():
            np.testing.assert_array_equal(through_server[name], values, err_msg=name)


def _alembic_rows(database: str) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(database_uri(POSTGRESQL, database))
        try:
            return await connection.fetchval("SELECT count(*) FROM alembic_version")
        finally:
            await connection.close()

    return asyncio.run(count())


def test_the_catalog_is_initialised_once_before_any_server(deployment, point_run):
    settings = deployment.config.tiled.deployment
    said = [line for line in deployment.seen if line.startswith("PostgreSQL database")]
    assert said == [f"PostgreSQL database {settings.database}: created; catalog initialised"]
    directory = deployment.config.station.data_dir.resolve() / "tiled_deployment"
    assert "Creating tables" in (directory / "catalog_init.log").read_text()
    for index in range(1, SERVERS + 1):
        assert "Creating tables" not in (directory / f"server-{index}.log").read_text()
    assert "init_if_not_exists: false" in (directory / "config.yml").read_text()
    assert _alembic_rows(settings.database) == 1


def test_every_listener_is_on_loopback_and_the_key_on_no_command_line(deployment, point_run):
    _, api_key = endpoint(deployment.config)
    processes = psutil.Process(deployment.process.pid).children(recursive=True)
    names = {process.name() for process in processes}
    assert "haproxy" in names
    listening = 0
    for process in [psutil.Process(deployment.process.pid), *processes]:
        assert api_key not in " ".join(process.cmdline())
        for connection in process.net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN:
                listening += 1
                assert connection.laddr.ip == "127.0.0.1", (process.cmdline(), connection)
    assert listening >= SERVERS + 1  # each server and HAProxy


def test_a_killed_server_costs_no_request_and_is_restarted(deployment, point_run):
    uri, api_key = endpoint(deployment.config)
    first = server_ports(deployment)[0]
    victim = deployment.child(("--port", str(first)))
    victim.send_signal(signal.SIGKILL)
    # At once, before HAProxy's health check has seen it go: every request still answered.
    for _ in range(10):
        assert read_back(uri, api_key, point_run)["capacity_mAh"].shape == (2,)
    deployment.wait_for_line("Tiled server 1", "SIGKILL", "restarted")
    restarted = read_back(f"http://127.0.0.1:{first}", api_key, point_run)
    assert restarted["projections"].shape[0] == tiny.PROJECTIONS
    assert deployment.process.poll() is None


def test_served_again_the_catalog_is_not_initialised_again_and_keeps_the_run(
    deployment, point_run
):
    deployment.process.send_signal(signal.SIGINT)
    assert deployment.process.wait(timeout=60) == 0
    again = serve_deployment(deployment.config, deployment.config_file)
    try:
        database = deployment.config.tiled.deployment.database
        assert f"PostgreSQL database {database}: exists; catalog already initialised" in (
            again.seen
        )
        uri, api_key = endpoint(deployment.config)
        assert read_back(uri, api_key, point_run)["capacity_mAh"].shape == (2,)
        assert _alembic_rows(database) == 1
    finally:
        stop(again)
