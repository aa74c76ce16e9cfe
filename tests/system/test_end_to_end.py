"""The pressure series end to end: real IOCs, real Channel Access, a real Tiled server.

Runs `pressure_series` on the tiny test station (the session's `pressure_series_run`), streams
it through the station's RunEngine (TiledWriter off the acquisition thread) and reads everything
back databroker-style.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from tiled.queries import Key

from acq.runtime.engine import make_run_engine
from plans import eis_sweep
from tests.system.series_settings import DARKS, EIS_POINTS, FLATS, PRESSURES_MPA, PROJECTIONS


@pytest.fixture(scope="module")
def series(pressure_series_run):
    return pressure_series_run.uids


def test_every_run_is_in_tiled_and_found_databroker_style(series, tiled_client, station_config):
    raw = tiled_client["raw"]
    assert len(series) == len(PRESSURES_MPA)
    # Other tests of the session write to the same catalog: index within the series.
    same_series = raw.search(
        Key("start.series_uid") == raw[series[0]].metadata["start"]["series_uid"]
    )
    assert same_series[-1].metadata["start"]["uid"] == series[-1]
    assert same_series[0].metadata["start"]["uid"] == series[0]
    assert raw[-1].metadata["start"]["time"] >= raw[series[-1]].metadata["start"]["time"]
    found = raw.search(Key("start.sample") == station_config.sample.id)
    assert set(series) <= set(found)
    for uid, pressure in zip(series, PRESSURES_MPA, strict=True):
        run = raw[uid]
        start, stop = run.metadata["start"], run.metadata["stop"]
        assert stop["exit_status"] == "success"
        assert start["pressure_MPa"] == pressure
        assert start["cell"]["diameter_mm"] == station_config.cell.diameter_mm
        assert start["cell"]["electrode_mass_mg"] == station_config.cell.electrode_mass_mg
        assert start["versions"]["bluesky"] == importlib.metadata.version("bluesky")
        assert start["versions"]["ssb-beamline"] == importlib.metadata.version("ssb-beamline")
        assert start["technique"]["eis"]["points_per_decade"] == 4
        assert {
            "primary",
            "eis",
            "dark",
            "flat",
            "projection",
            "ct_conditions",
            "trace",
            "half_cycle",
        } <= set(run)
        assert start["technique"]["ct"]["acquisition"] == "fly"


def test_pressure_force_and_spectra_come_back_with_shapes_and_units(series, tiled_client):
    for uid, pressure in zip(series, PRESSURES_MPA, strict=True):
        run = tiled_client["raw"][uid]
        primary = run["primary"]
        assert np.asarray(primary["press_pressure_MPa"].read()) == pytest.approx(pressure, abs=0.5)
        eis = run["eis"]
        frequency = np.asarray(eis["pstat_eis_frequency_Hz"].read())
        n = int(np.asarray(eis["pstat_eis_num_points"].read())[0])
        assert n == EIS_POINTS
        assert frequency.shape[0] == 1 and frequency[0, 0] == pytest.approx(1e6)
        assert frequency[0, n - 1] == pytest.approx(0.1)
        z_imag = np.asarray(eis["pstat_eis_z_imag_ohm"].read())[0, :n]
        assert np.all(z_imag[1:-1] < 0)  # capacitive arcs below the real axis


def test_every_ct_frame_comes_back_as_an_array(series, tiled_client, station_config):
    imaging = station_config.simulation.parameters["imaging"]
    shape = (
        imaging["electrode_slices"] + imaging["electrolyte_slices"],
        imaging["diameter_voxels"],
    )
    for uid in series:
        run = tiled_client["raw"][uid]
        frames = {
            name: np.asarray(run[name]["det_image"].read())
            for name in ("dark", "flat", "projection")
        }
        assert frames["dark"].shape[0] == DARKS
        assert frames["flat"].shape[0] == FLATS
        assert frames["projection"].shape[0] == PROJECTIONS
        for stack in frames.values():
            assert stack.shape[-2:] == shape
        assert frames["dark"].mean() < 0.1 * frames["flat"].mean()
        assert frames["projection"].mean() < frames["flat"].mean()
        angles = np.asarray(run["projection"]["tomo_rotation"].read())
        assert angles == pytest.approx(np.linspace(0, 180, PROJECTIONS), abs=1e-9)
        press = np.asarray(run["ct_conditions"]["press_pressure_MPa"].read())
        assert press.shape == (2,)  # before and after the fly scan


def test_cycling_streams_a_live_trace_and_one_event_per_half_cycle(series, tiled_client):
    for uid in series:
        run = tiled_client["raw"][uid]
        half = run["half_cycle"]
        steps = [str(s) for s in np.asarray(half["cycle_step"].read())]
        assert steps == ["charge", "discharge"]
        reasons = [
            str(r) for r in np.asarray(half["pstat_galvanostatic_termination_reason"].read())
        ]
        assert reasons == ["upper_cutoff", "lower_cutoff"]
        capacity = np.asarray(half["pstat_galvanostatic_capacity_mAh"].read())
        assert np.all(capacity > 0)
        trace_voltage = np.asarray(half["pstat_galvanostatic_voltage_V"].read())
        n = np.asarray(half["pstat_galvanostatic_num_points"].read())
        assert trace_voltage.shape[1] >= n.max() > 10
        live = np.asarray(run["trace"]["pstat_voltage_V"].read())
        assert live.size >= 2


def test_cell_is_off_and_shutter_closed_after_the_series(series, station):
    assert station.potentiostat.cell_on.get(use_monitor=False) == "Off"
    assert station.tomo_stage.shutter.get(use_monitor=False) == "Closed"


def test_a_spectrum_of_few_points_reaches_tiled(station, station_config, tiled_client):
    """Arrays of up to 16 elements are stored like longer ones (not in the SQL table storage,
    which cannot hold them), and nothing is left for the backup."""
    engine = make_run_engine(station_config, tiled_client)
    (uid,) = engine.RE(eis_sweep(station.potentiostat, points_per_decade=2))
    engine.close()
    run = tiled_client["raw"][uid]
    assert run.metadata["stop"]["exit_status"] == "success"
    z_real = np.asarray(run["primary"]["pstat_eis_z_real_ohm"].read())
    assert z_real.shape == (1, station.potentiostat.eis.num_points.get()) == (1, 15)
