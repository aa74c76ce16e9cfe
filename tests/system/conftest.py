"""The system tier's station: simulated IOCs over real Channel Access, an embedded Tiled
server, and one pressure series run through both, shared by the session."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from epics import ca
from epics import pv as epics_pv

from acq.analysis.live import LiveAnalysis
from acq.beamline import Station, build_station, connect_station
from acq.config import StationConfig, parse_config
from acq.runtime.engine import make_run_engine
from acq.runtime.streaming import BackgroundWriter
from acq.runtime.tiled_client import connect
from acq.services import EmbeddedTiled, SimulatedStationProcess, embedded_tiled
from acq.services.ports import free_tcp_port
from plans import pressure_series
from tests.stations import small_station_config
from tests.system import series_settings as settings


@pytest.fixture(scope="session")
def station_config(tmp_path_factory) -> StationConfig:
    """Config of the session's simulated station."""
    return small_station_config(tmp_path_factory.mktemp("station"))


@pytest.fixture(scope="session")
def simulated_station(station_config):
    """The simulated IOCs of `station_config`, serving for the whole session."""
    with SimulatedStationProcess(station_config) as process:
        yield process


@pytest.fixture(scope="session")
def station(simulated_station, station_config) -> Station:
    """Every device of the station, connected."""
    built = build_station(station_config)
    connect_station(built)
    yield built
    built.close()  # before the IOCs stop: no monitor may fire into torn-down devices


#: What the session IOC's log says when it dropped a client's monitor updates or closed its
#: connection (`simulated_devices.secured_server`): a client of the tests fell behind.
DROPPED_UPDATES = ("Critically high EventAddResponse load", "monitor updates to")


class SessionIOCWarning(UserWarning):
    """The session's IOC dropped a client's monitor updates (its log's line)."""


def _dropped_updates(log: Path, start: int) -> list[str]:
    """The lines of ``log`` after byte ``start`` that name dropped updates."""
    with log.open("rb") as text:
        text.seek(start)
        lines = text.read().decode(errors="replace").splitlines()
    return [line for line in lines if any(mark in line for mark in DROPPED_UPDATES)]


@pytest.fixture(autouse=True)
def _session_station_intact(request):
    """After a test that used the session's station:

    - its lock is released even if the test failed with a RunEngine paused or running (its
      devices staged): the lock would otherwise stay held by this process's connection, and
      every later plan be refused;
    - every channel of its signals is still open: a test that clears one under it (a pyepics
      ``PV`` of its own disconnected, see `tests.system.messages`) fails here, by name,
      instead of the station's reads failing later and its teardown crashing the worker;
    - a client whose monitor updates the IOC dropped meanwhile is reported (a
      `SessionIOCWarning` with the IOC's line, in pytest's warnings summary).
    """
    log = None
    if "station" in request.fixturenames:
        log = request.getfixturevalue("simulated_station").log_path
        start = log.stat().st_size
    yield
    if log is None:
        return
    for line in _dropped_updates(log, start):
        warnings.warn(SessionIOCWarning(f"{request.node.nodeid}: IOC: {line}"), stacklevel=1)
    station = request.getfixturevalue("station")
    if station.lock is not None:
        station.lock.unstage()  # idempotent: nothing is written unless it is staged
    cleared = cleared_channels(station)
    assert not cleared, f"the session station's channels broken: {', '.join(cleared)}"


def cleared_channels(station: Station) -> list[str]:
    """The station's signals whose pyepics PV is no longer the one pyepics hands out for its
    name (the next station built would clear its channel), or whose channel is cleared."""
    cleared = []
    for device in station.connectable().values():
        for walk in device.walk_signals():
            signal = walk.item
            read_pv, write_pv = (
                getattr(signal, "_read_pv", None),
                getattr(signal, "_write_pv", None),
            )
            for pv in (read_pv, write_pv if write_pv is not read_pv else None):
                if pv is None:
                    continue
                if pv.chid is None or pv.chid.value not in ca._chid_cache:
                    cleared.append(f"{signal.name} ({pv.pvname}: channel cleared)")
                elif epics_pv._PVcache_.get(pv._cache_key) is not pv:
                    cleared.append(f"{signal.name} ({pv.pvname}: dropped from pyepics' cache)")
    return cleared


@pytest.fixture(scope="session")
def tiled_server(station_config) -> EmbeddedTiled:
    """An embedded Tiled server for the session's station."""
    with embedded_tiled(station_config) as server:
        yield server


@pytest.fixture(scope="session")
def tiled_client(tiled_server):
    """A client of the session's Tiled server (``raw``, ``analysis``)."""
    return connect(tiled_server.uri, tiled_server.api_key)


@pytest.fixture(scope="session")
def session_config(station, station_config, tiled_server) -> StationConfig:
    """The station's config, pointed at the session's Tiled (as a beamline's config names
    its server) and at 0MQ ports of its own: what a command or session started beside the
    served station uses."""
    raw = station_config.model_dump(mode="json")
    raw["tiled"].update(uri=tiled_server.uri, api_key=tiled_server.api_key)
    raw["analysis"].update(zmq_in_port=free_tcp_port(), zmq_out_port=free_tcp_port())
    return parse_config(raw)


@dataclass
class SeriesRun:
    """The session's pressure series: raw uids, and the in-process live analysis of it."""

    uids: list[str]
    analysis: LiveAnalysis


@pytest.fixture(scope="session")
def pressure_series_run(station, station_config, tiled_client) -> SeriesRun:
    """`pressure_series` on the tiny station, streamed to Tiled and analysed in process."""
    engine = make_run_engine(station_config, tiled_client, press=station.press, lock=station.lock)
    analysis = LiveAnalysis(
        tiled_client, circuit=station_config.analysis.circuit, run_timeout_s=60
    )
    analyser = BackgroundWriter(analysis, name="live-analysis")
    engine.RE.subscribe(analyser)
    uids = engine.RE(
        pressure_series(
            station.press,
            station.potentiostat,
            station.tomo_stage,
            station.detector,
            position_compare=station.position_compare,
            clock=station.clock,
            pressures_MPa=settings.PRESSURES_MPA,
            eis_points_per_decade=settings.POINTS_PER_DECADE,
            ct_num_projections=settings.PROJECTIONS,
            ct_num_darks=settings.DARKS,
            ct_num_flats=settings.FLATS,
            cycles=1,
            c_rate=0.01,
            poll_interval_s=0.05,
        )
    )
    engine.close()
    assert analyser.flush(120)
    assert engine.writer.failures == 0 and analyser.failures == 0
    yield SeriesRun(uids, analysis)
    analyser.close()
