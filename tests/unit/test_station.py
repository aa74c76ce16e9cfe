"""Every shipped config builds its whole station (ophyd's fakes, no IOC), every device
meets the bluesky protocols the plans use it by, and the plan registry binds them."""

from __future__ import annotations

import pytest
from bluesky.protocols import Flyable, Movable, Pausable, Readable, Stageable, Triggerable

from acq.beamline import BadPlanArguments, UnknownDevice, build_station, station_plans
from acq.config import SHIPPED_CONFIGS, load_config
from conventions import data_keys
from devices.beam_monitor import BeamMonitor
from devices.position_compare import PositionCompare
from devices.potentiostat import Potentiostat
from devices.press import PressureCell
from devices.rotation_flyer import RotationFlyer
from devices.tomography import TomographyDetector, TomographyStage


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda path: path.stem)
def test_every_shipped_config_builds_a_station_of_its_named_devices(path):
    config = load_config(path)
    station = build_station(config, fake=True)
    devices = station.devices()
    assert list(devices) == [
        data_keys.PRESS,
        data_keys.POTENTIOSTAT,
        data_keys.STAGE,
        data_keys.DETECTOR,
        data_keys.POSITION_COMPARE,
        data_keys.BEAM,
        data_keys.CLOCK,
    ]
    assert all(device.prefix.startswith(config.station.prefix) for device in devices.values())
    beam = station.beam
    assert isinstance(beam, BeamMonitor) and isinstance(beam, Readable)
    assert beam.current_mA.name == data_keys.BEAM_CURRENT
    assert beam.min_current_mA.get() == config.tomography.min_beam_current_mA
    press, pstat = station.press, station.potentiostat
    assert isinstance(press, PressureCell) and isinstance(press, Movable)
    assert isinstance(press, Readable)
    assert press.tolerance_MPa.get() == config.press.tolerance_MPa
    assert isinstance(pstat, Potentiostat) and pstat.time_scale == config.station.time_scale
    assert pstat.electrode_area_cm2.get() == pytest.approx(config.cell.area_cm2)
    for technique in (pstat.eis, pstat.galvanostatic, pstat.rest):
        assert isinstance(technique, Triggerable) and isinstance(technique, Pausable)
    assert isinstance(station.detector, TomographyDetector)
    assert isinstance(station.detector, Triggerable) and isinstance(station.detector, Stageable)
    assert station.detector.hdf1.write_path_template.startswith(str(config.frames_dir))
    assert isinstance(station.tomo_stage, TomographyStage)
    assert isinstance(station.position_compare, PositionCompare)
    flyer = RotationFlyer(station.tomo_stage, station.detector, station.position_compare)
    assert isinstance(flyer, Flyable)


def test_the_registry_knows_every_plan_and_fills_its_devices(fake_station):
    plans = station_plans()
    assert {
        "pressure_step",
        "eis_sweep",
        "galvanostatic_cycles",
        "ct_scan",
        "pressure_series",
        "critical_current_density",
        "lithium_inventory_cycling",
    } <= set(plans)
    series = plans["pressure_series"]
    assert set(series.devices) == {
        "press",
        "potentiostat",
        "stage",
        "detector",
        "position_compare",
        "beam",
        "clock",
    }
    bound = series.bind(fake_station, {"pressures_MPa": [6]}, fill_optional=True)
    assert bound["press"] is fake_station.press
    assert bound["position_compare"] is fake_station.position_compare
    assert bound["beam"] is fake_station.beam
    assert bound["clock"] is fake_station.clock
    assert "position_compare" not in series.bind(fake_station, {})
    named = plans["eis_sweep"].bind(
        fake_station, {"potentiostat": "pstat", "detectors": ["press"]}
    )
    assert named["detectors"] == [fake_station.press]
    with pytest.raises(UnknownDevice, match="'presss' names no device"):
        plans["pressure_step"].bind(fake_station, {"press": "presss"})


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({"pressure_MPa": 25, "nonsense": 1}, "nonsense"), ({}, "pressure_MPa")],
    ids=["unknown", "missing"],
)
def test_the_registry_refuses_arguments_the_plan_does_not_take(fake_station, arguments, named):
    """What `acq run --param` passes is checked against the plan's signature, so a typo is one
    line naming it (exit 2), not a TypeError from inside the RunEngine."""
    with pytest.raises(BadPlanArguments, match=named):
        station_plans()["pressure_step"].bind(fake_station, arguments, fill_optional=True)
