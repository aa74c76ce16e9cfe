"""The station's Channel Access rules (`simulated_devices.access`), without a server."""

from __future__ import annotations

import getpass

import pytest
from caproto import AccessRights

from simulated_devices.access import (
    Client,
    StationAccess,
    check_writer_pattern,
    default_writers,
    matches,
)

RW = AccessRights.READ | AccessRights.WRITE
LOCKED, FREE = object(), object()


def _client(user="op", host="beamline-pc", address=("127.0.0.1", 40001)) -> Client:
    return Client(user, host, address)


def test_default_writer_is_this_user_on_this_machine():
    assert default_writers() == (f"{getpass.getuser()}@localhost",)
    assert StationAccess([], locked=()).writers == default_writers()


@pytest.mark.parametrize(
    "pattern, client, expected",
    [
        ("op@localhost", _client(), True),
        ("op@localhost", _client(host="localhost", address=("10.0.0.7", 5)), False),
        ("op@localhost", _client(user="eve"), False),
        ("op@beamline-*", _client(address=("10.0.0.7", 5)), True),
        ("op@10.0.0.*", _client(host="x", address=("10.0.0.7", 5)), True),
        ("*@localhost", _client(user="anyone"), True),
        ("op@localhost", _client(user=None), False),
    ],
)
def test_writer_patterns(pattern, client, expected):
    """``localhost`` is checked on the connection, not on the name the client gives."""
    assert matches(pattern, client) is expected


@pytest.mark.parametrize("bad", ["op", "@host", "op@", "o p@host", "op@ host"])
def test_writer_pattern_must_be_user_at_host(bad):
    with pytest.raises(ValueError, match="user@host"):
        check_writer_pattern(bad)


def test_only_writers_write():
    access = StationAccess(["op@localhost"], locked={LOCKED})
    assert access.rights(FREE, _client(), RW) == RW
    assert access.rights(FREE, _client(user="eve"), RW) == AccessRights.READ
    assert access.rights(FREE, _client(), AccessRights.READ) == AccessRights.READ
    assert "eve@" in access.refusal(FREE, _client(user="eve"))


def test_lock_bars_other_connections_from_locked_channels_only():
    access = StationAccess(["op@localhost"], locked={LOCKED})
    station, stray = _client(), _client(address=("127.0.0.1", 40002))
    assert access.take(station) is None
    assert access.rights(LOCKED, station, RW) == RW
    assert access.rights(LOCKED, stray, RW) == AccessRights.READ
    assert access.rights(FREE, stray, RW) == RW
    assert "lock held by" in access.refusal(LOCKED, stray)
    assert access.take(stray) == access.release(stray) == f"lock held by {station}"
    assert access.take(station) is None  # again: still held
    assert access.release(station) is None
    assert access.rights(LOCKED, stray, RW) == RW


def test_lock_goes_with_its_connection():
    access = StationAccess(["op@localhost"], locked={LOCKED})
    station = _client()
    access.take(station)
    assert not access.disconnected(("127.0.0.1", 40002))
    assert access.holder == station
    assert access.disconnected(station.address)
    assert access.holder is None


def test_config_names_the_writers_the_iocs_take(tmp_path):
    from acq.config import ConfigError
    from acq.services import SimulatedStationProcess
    from simulated_devices.station import parse_arguments
    from tests.stations import small_station_config

    config = small_station_config(tmp_path, simulation={"ca_writers": ["blop@localhost"]})
    command = SimulatedStationProcess(config).command()
    assert command[-2:] == ["--ca-writer", "blop@localhost"]
    options, _ = parse_arguments(command[-2:])
    assert options.writers == ("blop@localhost",)
    with pytest.raises(ConfigError, match="ca_writers"):
        small_station_config(tmp_path, simulation={"ca_writers": ["blop"]})


def test_bad_writer_on_the_command_line_is_refused_in_one_line(capsys):
    from simulated_devices.station import parse_arguments

    with pytest.raises(SystemExit):
        parse_arguments(["--ca-writer", "blop"])
    error = capsys.readouterr().err
    assert "--ca-writer: writer 'blop' is not 'user@host'" in error
    assert "Traceback" not in error
