"""``[tiled.deployment]`` and ``[tiled] api_key_file``: what ``acq tiled serve`` is given, and
how a station reads the deployment's key; bad values refused by name, a taken port and an
unreachable PostgreSQL in one line, before anything starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from acq.cli import main
from acq.config import ConfigError, load_config, parse_config
from acq.runtime.tiled_client import endpoint
from acq.services.ports import free_tcp_port
from acq.services.tiled_deployment import TiledDeployment
from tests.stations import small_station_config, write_toml


def _config(tmp_path, tiled: dict):
    raw = load_config().model_dump(mode="json")
    raw["station"]["data_dir"] = str(tmp_path / "data")
    raw["tiled"].update(tiled)
    return parse_config(raw)


@pytest.mark.parametrize(
    "deployment, named",
    [
        ({"postgresql": "postgresql://postgres:secret@127.0.0.1:5432"}, "no password"),
        ({"postgresql": "postgresql://127.0.0.1:5432/other"}, "server only"),
        ({"postgresql": "http://127.0.0.1:5432"}, "postgresql://"),
        ({"database": "Robert'); DROP TABLE nodes;--"}, "tiled.deployment.database"),
        ({"servers": 0}, "tiled.deployment.servers"),
        ({"port": 5577}, "tiled.deployment.port"),  # the analysis proxy's
        ({"workers": 4}, "tiled.deployment.workers"),
    ],
)
def test_bad_deployment_values_are_named(tmp_path, deployment, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        _config(tmp_path, {"deployment": deployment})


def test_the_server_config_puts_catalog_and_tables_in_postgresql_and_arrays_on_disk(tmp_path):
    config = _config(tmp_path, {"deployment": {"database": "beamline_a", "servers": 3}})
    deployment = TiledDeployment(config)
    catalog = deployment.server_config()["catalog"]
    assert catalog["uri"] == "postgresql+asyncpg://postgres@127.0.0.1:5432/beamline_a"
    arrays, tables = catalog["writable_storage"]
    assert arrays == str((tmp_path / "data" / "tiled_deployment" / "files").resolve())
    assert tables == "postgresql://postgres@127.0.0.1:5432/beamline_a"
    assert catalog["readable_storage"] == [str(config.frames_dir)]
    assert catalog["init_if_not_exists"] is False  # initialised once, before any server


def test_a_config_without_a_deployment_has_none_to_serve(tmp_path):
    with pytest.raises(ConfigError, match=r"no \[tiled.deployment\]"):
        TiledDeployment(_config(tmp_path, {}))


def test_the_key_is_read_from_an_owner_only_file(tmp_path):
    key_file = tmp_path / "api_key"
    key_file.write_text("0123abcd\n")
    config = _config(tmp_path, {"uri": "http://127.0.0.1:8020", "api_key_file": str(key_file)})
    key_file.chmod(0o600)
    assert endpoint(config) == ("http://127.0.0.1:8020", "0123abcd")
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        endpoint(config)
    key_file.unlink()
    with pytest.raises(ConfigError, match="acq tiled serve"):
        endpoint(config)


def test_a_key_given_twice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="api_key and api_key_file"):
        _config(tmp_path, {"uri": "http://127.0.0.1:8020", "api_key": "k", "api_key_file": "f"})


def _served_config(tmp_path, deployment: dict) -> Path:
    config = small_station_config(tmp_path / "data")
    raw = config.model_dump(mode="json")
    raw["tiled"]["deployment"] = deployment
    return write_toml(parse_config(raw), tmp_path / "station.toml")


def test_a_taken_port_is_one_line_and_exit_status_1(tmp_path, capfd):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config_file = _served_config(tmp_path, {"port": port})
        assert main(["tiled", "serve", "--config", str(config_file)]) == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and f"127.0.0.1:{port}: the port is in use" in err


def test_an_unreachable_postgresql_is_one_line_and_exit_status_1(tmp_path, capfd):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config_file = _served_config(
        tmp_path,
        {"postgresql": f"postgresql://postgres@127.0.0.1:{closed}", "port": free_tcp_port()},
    )
    assert main(["tiled", "serve", "--config", str(config_file)]) == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and f"cannot use PostgreSQL at 127.0.0.1:{closed}" in err
    assert "Traceback" not in err


def test_a_config_without_a_deployment_is_one_line_and_exit_status_2(tmp_path, capfd):
    config_file = write_toml(small_station_config(tmp_path / "data"), tmp_path / "s.toml")
    assert main(["tiled", "serve", "--config", str(config_file)]) == 2
    assert "no [tiled.deployment] table" in capfd.readouterr().err
