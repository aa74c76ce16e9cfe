"""The potentiostat over real Channel Access to the simulated cell."""

from __future__ import annotations

import epics
import numpy as np
import pytest
from ophyd.utils.errors import LimitError

from acq.services import simulation_parameters
from simulated_devices.physics.impedance import circuit_at
from simulated_devices.physics.microstructure import microstructure_at

PRESSURE_MPA = 50.0


@pytest.fixture(scope="module")
def pressed(station):
    """The cell held at `PRESSURE_MPA`."""
    station.press.set(PRESSURE_MPA).wait(timeout=30)
    return station


def test_eis_spectrum_has_the_configured_frequencies_and_the_cells_arcs(pressed, station_config):
    eis = pressed.potentiostat.eis
    eis.initial_frequency_Hz.put(1e6, wait=True)
    eis.final_frequency_Hz.put(0.1, wait=True)
    eis.points_per_decade.put(8, wait=True)
    eis.amplitude_V.put(0.01, wait=True)
    eis.trigger().wait(timeout=60)
    reading = eis.read()
    n = reading["pstat_eis_num_points"]["value"]
    assert n == 7 * 8 + 1
    frequency = reading["pstat_eis_frequency_Hz"]["value"][:n]
    z = (
        reading["pstat_eis_z_real_ohm"]["value"][:n]
        + 1j * reading["pstat_eis_z_imag_ohm"]["value"][:n]
    )
    np.testing.assert_allclose(frequency, eis.frequencies_Hz(), rtol=1e-9)
    # The spectrum is the simulated cell's circuit at this pressure, within the 0.5 % noise.
    params = simulation_parameters(station_config)
    truth = circuit_at(microstructure_at(pressed.press.position, params), params)
    assert np.median(np.abs(z - truth.impedance(frequency)) / np.abs(z)) < 0.02
    # Nyquist shape: two arcs (grain boundary at high, charge transfer at low frequency)
    # whose tops stand above the spectrum half a decade either side, and a Warburg tail rising at
    # the lowest frequencies.
    minus_z_imag = -z.imag
    true_minus_z_imag = -truth.impedance(frequency).imag
    tops = [
        i for i in range(4, n - 4) if true_minus_z_imag[i] == max(true_minus_z_imag[i - 4 : i + 5])
    ]
    assert len(tops) == 2
    for i in tops:
        assert minus_z_imag[i] > minus_z_imag[i - 4] and minus_z_imag[i] > minus_z_imag[i + 4]
    assert minus_z_imag[-1] > minus_z_imag[-4]
    series = truth.R0_ohm + truth.R_b_ohm
    assert series < z.real[0] < series + 0.2 * truth.R_gb_ohm


def test_half_cycle_ends_at_its_cutoff_and_says_so(pressed):
    pstat = pressed.potentiostat
    cp = pstat.galvanostatic
    current = 0.1 * 0.476e-3 * 150.0 * 1e-3  # 0.1C of the default cell, A
    cp.current_A.put(current, wait=True)
    cp.upper_cutoff_V.put(3.7, wait=True)
    cp.lower_cutoff_V.put(2.5, wait=True)
    cp.max_duration_s.put(20 * 3600.0, wait=True)
    cp.max_capacity_mAh.put(0.0, wait=True)
    cp.record_interval_s.put(60.0, wait=True)
    cp.trigger().wait(timeout=60)
    reading = cp.read()
    assert reading["pstat_galvanostatic_termination_reason"]["value"] == "upper_cutoff"
    n = reading["pstat_galvanostatic_num_points"]["value"]
    voltage = reading["pstat_galvanostatic_voltage_V"]["value"][:n]
    time_s = reading["pstat_galvanostatic_time_s"]["value"][:n]
    assert n > 10 and np.all(np.diff(time_s) > 0)
    assert voltage[-1] == pytest.approx(3.7, abs=0.02)
    assert np.all(np.isnan(reading["pstat_galvanostatic_voltage_V"]["value"][n:]))
    assert reading["pstat_galvanostatic_capacity_mAh"]["value"] > 0
    assert pstat.cell_on.get(use_monitor=False) == "Off"

    cp.current_A.put(-current, wait=True)
    cp.trigger().wait(timeout=60)
    assert cp.termination_reason.get() == "lower_cutoff"


def test_time_limit_is_a_reason_too(pressed):
    cp = pressed.potentiostat.galvanostatic
    cp.current_A.put(1e-7, wait=True)
    cp.max_duration_s.put(600.0, wait=True)
    cp.record_interval_s.put(10.0, wait=True)
    cp.trigger().wait(timeout=30)
    assert cp.termination_reason.get() == "time_limit"
    n = cp.num_points.get()
    assert cp.time_s.get()[n - 1] == pytest.approx(600.0, abs=10.0)


def test_stop_ends_the_technique_and_switches_the_cell_off(pressed):
    pstat = pressed.potentiostat
    cp = pstat.galvanostatic
    cp.current_A.put(1e-7, wait=True)
    cp.max_duration_s.put(1e7, wait=True)  # ~100 s of wall time at this clock
    cp.record_interval_s.put(1e4, wait=True)
    status = cp.trigger()
    epics.poll(0.5)
    assert pstat.cell_on.get(use_monitor=False) == "On"
    pstat.stop()
    status.wait(timeout=10)
    assert cp.termination_reason.get() == "stopped"
    assert pstat.cell_on.get(use_monitor=False) == "Off"
    assert pstat.current_A.get(use_monitor=False) == 0.0


def test_current_beyond_compliance_refused(pressed):
    cp = pressed.potentiostat.galvanostatic
    with pytest.raises(LimitError):
        cp.current_A.put(1.0)
    epics.caput(cp.current_A.setpoint_pvname, 1.0, wait=True, timeout=5)
    assert abs(epics.caget(cp.current_A.setpoint_pvname, use_monitor=False)) <= 0.01


def test_technique_error_is_reported_not_silent(pressed):
    """A half cycle whose trace would overflow the result arrays fails with the IOC's reason."""
    from devices.potentiostat import TechniqueFailed

    cp = pressed.potentiostat.galvanostatic
    cp.current_A.put(1e-7, wait=True)
    cp.max_duration_s.put(1e6, wait=True)
    cp.record_interval_s.put(1.0, wait=True)
    with pytest.raises(TechniqueFailed, match="record"):
        cp.trigger().wait(timeout=30)
    assert pressed.potentiostat.cell_on.get(use_monitor=False) == "Off"
