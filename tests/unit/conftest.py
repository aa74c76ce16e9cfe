"""The unit tier's station: every device of the default config faked by ophyd (no Channel
Access), with the control limits its IOCs publish, and a RunEngineSimulator for plans."""

from __future__ import annotations

import pytest
from bluesky.simulators import RunEngineSimulator
from ophyd import Signal
from ophyd.status import Status

from acq.beamline import Station, build_station
from acq.config import StationConfig
from conventions.impedance import FREQUENCY_RANGE_HZ
from conventions.pv_states import Switch, TechniqueState
from tests.stations import small_station_config

#: Travel limits of the simulated motors (rotation deg, sample translation mm, actuator mm).
ROTATION_LIMITS, SAMPLE_X_LIMITS, ACTUATOR_LIMITS = (-3600.0, 3600.0), (-20.0, 20.0), (0.0, 3.0)


def publish_limits(station: Station, config: StationConfig) -> None:
    """The control limits the station's IOCs publish, on its fake signals."""
    station.press.setpoint.sim_set_limits((0.0, config.max_pressure_MPa))
    station.press.actuator.user_setpoint.sim_set_limits(ACTUATOR_LIMITS)
    current = config.potentiostat.compliance_current_A
    voltage = config.potentiostat.compliance_voltage_V
    pstat = station.potentiostat
    gal, eis = pstat.galvanostatic, pstat.eis
    for signal, limits in (
        (gal.current_A, (-current, current)),
        (gal.upper_cutoff_V, (-voltage, voltage)),
        (gal.lower_cutoff_V, (-voltage, voltage)),
        (gal.max_duration_s, (1e-3, 1e7)),
        (gal.max_capacity_mAh, (0.0, 1e3)),
        (gal.record_interval_s, (1e-3, 1e7)),
        (pstat.rest.duration_s, (1e-3, 1e7)),
        (eis.initial_frequency_Hz, FREQUENCY_RANGE_HZ),
        (eis.final_frequency_Hz, FREQUENCY_RANGE_HZ),
        (eis.points_per_decade, (1, 50)),
        (eis.amplitude_V, (1e-4, 0.5)),
    ):
        signal.sim_set_limits(limits)
    station.tomo_stage.rotation.user_setpoint.sim_set_limits(ROTATION_LIMITS)
    station.tomo_stage.sample_x.user_setpoint.sim_set_limits(SAMPLE_X_LIMITS)
    for motor in (
        station.press.actuator,
        station.tomo_stage.rotation,
        station.tomo_stage.sample_x,
    ):
        # `EpicsMotor` reads its readback's alarm severity when a move ends; a fake has none.
        motor.user_readback.alarm_severity = 0


#: The storage ring's current of the fake station, mA.
NOMINAL_BEAM_CURRENT_MA = 400.0


@pytest.fixture
def config(tmp_path) -> StationConfig:
    """The default station's config, data under the test's own directory."""
    return small_station_config(tmp_path)


@pytest.fixture
def fake_station(config) -> Station:
    """Every device of the station as ophyd's fakes, limits published, the press holding
    with its feedback on, the potentiostat idle and the beam up."""
    station = build_station(config, fake=True)
    publish_limits(station, config)
    station.press.feedback.sim_put(Switch.ON)
    station.potentiostat.state.sim_put(TechniqueState.STOPPED)
    station.beam.current_mA.sim_put(NOMINAL_BEAM_CURRENT_MA)
    return station


def finished_status(msg: object = None) -> Status:
    """A status already done (for the simulator to hand back)."""
    status = Status()
    status.set_finished()
    return status


@pytest.fixture
def sim(fake_station) -> RunEngineSimulator:
    """A RunEngineSimulator whose triggers and sets finish at once, and whose reads of the
    station's soft signals answer with their values (what `bps.rd` gets from a RunEngine)."""
    simulator = RunEngineSimulator()
    for command in ("trigger", "set"):
        simulator.add_handler(command, finished_status)
    for device in fake_station.devices().values():
        for walk in device.walk_signals():
            signal = walk.item
            if type(signal) is Signal:  # soft: a value held in the device, no PV
                simulator.add_read_handler_for(signal, signal.get())
    simulator.add_read_handler_for(fake_station.potentiostat.state, TechniqueState.STOPPED)
    simulator.add_read_handler_for(fake_station.beam.current_mA, NOMINAL_BEAM_CURRENT_MA)
    return simulator
