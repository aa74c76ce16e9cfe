"""Shared fixtures: one simulated station over real Channel Access for the session.

Channel Access is pointed at loopback on a port of its own *before* pyepics is imported, so
a test run does not answer (or get answers from) a demo running beside it.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from acq.runtime.channel_access import configure_channel_access

configure_channel_access(server_port=int(os.environ.get("SSB_TEST_CA_PORT",
                                                        random.randrange(20000, 40000, 2))))

from acq.config import StationConfig, load_config, parse_config  # noqa: E402
from acq.services import SimulatedStationProcess  # noqa: E402

#: A small but complete station: tiny CT volume, fast clock, short dwell.
TEST_IMAGING = {"diameter_voxels": 64, "electrode_slices": 16, "electrolyte_slices": 8}


def small_station_config(data_dir: Path, **overrides) -> StationConfig:
    """The default station config with a small CT volume and data under ``data_dir``."""
    raw = load_config().model_dump(mode="json")
    raw["station"]["data_dir"] = str(data_dir)
    raw["station"]["prefix"] = f"T{random.randrange(10**6)}:"
    raw["press"]["dwell_s"] = 0.2
    raw["tiled"]["port"] = 0
    raw["simulation"]["parameters"]["imaging"] = dict(TEST_IMAGING)
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return parse_config(raw)


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
def station(simulated_station, station_config):
    """Every device of the station, connected."""
    from acq.beamline import build_station, connect_station

    built = build_station(station_config)
    connect_station(built)
    yield built
    built.close()  # before the IOCs stop: no monitor may fire into torn-down devices


@pytest.fixture(scope="session")
def tiled_server(station_config):
    """An embedded Tiled server for the session's station."""
    from acq.services import embedded_tiled

    with embedded_tiled(station_config) as server:
        yield server


@pytest.fixture(scope="session")
def tiled_client(tiled_server):
    """A client of the session's Tiled server (``raw``, ``analysis``)."""
    from acq.runtime.tiled_client import connect

    return connect(tiled_server.uri, tiled_server.api_key)


@dataclass
class SeriesRun:
    """The session's pressure series: raw uids, and the in-process live analysis of it."""

    uids: list[str]
    analysis: object


@pytest.fixture(scope="session")
def pressure_series_run(station, station_config, tiled_client) -> SeriesRun:
    """`pressure_series` on the tiny station, streamed to Tiled and analysed in process."""
    from acq.analysis.live import LiveAnalysis
    from acq.runtime.engine import make_run_engine
    from acq.runtime.streaming import BackgroundWriter
    from plans import pressure_series
    from tests import series_settings as settings

    engine = make_run_engine(station_config, tiled_client)
    analysis = LiveAnalysis(tiled_client, circuit=station_config.analysis.circuit,
                            run_timeout_s=60)
    analyser = BackgroundWriter(analysis, name="live-analysis")
    engine.RE.subscribe(analyser)
    uids = engine.RE(pressure_series(
        station.press, station.potentiostat, station.tomo_stage, station.detector,
        position_compare=station.position_compare, pressures_MPa=settings.PRESSURES_MPA,
        eis_points_per_decade=settings.POINTS_PER_DECADE,
        ct_num_projections=settings.PROJECTIONS, ct_num_darks=settings.DARKS,
        ct_num_flats=settings.FLATS, cycles=1, c_rate=0.01,
        poll_interval_s=0.05))
    engine.flush()
    assert analyser.flush(120)
    assert engine.writer.failures == 0 and analyser.failures == 0
    return SeriesRun(uids, analysis)


@pytest.fixture
def RE():
    """A fresh RunEngine per test, collecting its documents in ``RE.documents``."""
    from bluesky import RunEngine

    engine = RunEngine({}, call_returns_result=True)
    engine.documents = []
    engine.subscribe(lambda name, doc: engine.documents.append((name, doc)))
    yield engine
    if engine.state != "idle":
        engine.halt()
