"""Galvanostatic behaviour of the simulated cell: cut-offs, capacity, CE, N/P knee, CCD."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from simulated_devices.physics.electrochemistry import (
    ElectrochemicalCell,
    HalfCycle,
    HalfCycleLimits,
)
from simulated_devices.physics.impedance import circuit_at
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters

UPPER_V, LOWER_V = 3.68, 2.5
#: Cut-offs no symmetric cell here reaches, V.
WIDE_V = (-50.0, 50.0)
HOUR_S = 3600.0


def cell_at(
    pressure_MPa: float, params: CellParameters | None = None, seed: int = 0
) -> ElectrochemicalCell:
    """A cell with the resistances the impedance model gives at ``pressure_MPa``."""
    params = params or CellParameters()
    circuit = circuit_at(microstructure_at(pressure_MPa, params), params)
    cell = ElectrochemicalCell(params, np.random.default_rng(seed))
    cell.set_conditions(
        pressure_MPa, circuit.R0_ohm + circuit.R_b_ohm + circuit.R_gb_ohm, circuit.R_ct_ohm
    )
    return cell


def run(
    cell: ElectrochemicalCell,
    current_A: float,
    *,
    hours: float = 120.0,
    capacity_mAh: float = math.inf,
    record_s: float = 120.0,
    cutoffs: tuple[float, float] = (LOWER_V, UPPER_V),
) -> HalfCycle:
    """One half cycle run to its end in chunks, as the IOC does."""
    half = HalfCycle(
        cell,
        HalfCycleLimits(current_A, cutoffs[1], cutoffs[0], hours * HOUR_S, capacity_mAh, record_s),
        max_points=4096,
    )
    while not half.done:
        half.advance(2000.0)
    return half


def c_rate_current_A(cell: ElectrochemicalCell, c_rate: float) -> float:
    return c_rate * cell.nominal_capacity_mAh * 1e-3


def test_charge_ends_at_the_upper_and_discharge_at_the_lower_cutoff():
    cell = cell_at(50.0)
    current = c_rate_current_A(cell, 0.01)
    charge = run(cell, current)
    discharge = run(cell, -current)
    assert charge.reason == "upper_cutoff" and charge.voltage_V[-1] >= UPPER_V
    assert discharge.reason == "lower_cutoff" and discharge.voltage_V[-1] <= LOWER_V
    # 0.01C: about 100 h per half cycle for the whole capacity; recorded every 120 s.
    assert 60 * HOUR_S < charge.elapsed_s < 100 * HOUR_S
    assert np.allclose(np.diff(charge.time_s)[:-1], 120.0)
    assert np.all(np.diff(charge.voltage_V[5:-5]) > -1e-3)  # charging raises the voltage
    assert charge.capacity_mAh == pytest.approx(current * charge.elapsed_s / 3.6)


def test_time_and_capacity_limits_end_a_half_cycle_with_their_reason():
    cell = cell_at(50.0)
    current = c_rate_current_A(cell, 0.01)
    timed = run(cell, current, hours=2.0)
    assert timed.reason == "time_limit" and timed.elapsed_s == pytest.approx(2 * HOUR_S)
    limited = run(cell, current, capacity_mAh=0.01)
    assert limited.reason == "capacity_limit"
    assert limited.capacity_mAh == pytest.approx(0.01, rel=1e-6)


def test_discharge_capacity_rises_about_logarithmically_with_pressure_and_saturates():
    capacities = {}
    for pressure in (6.0, 12.0, 25.0, 50.0, 100.0):
        cell = cell_at(pressure)
        current = c_rate_current_A(cell, 0.01)
        run(cell, current)
        capacities[pressure] = run(cell, -current).capacity_mAh
    values = np.array(list(capacities.values()))
    assert np.all(np.diff(values) > 0)
    gains = np.diff(values)
    # Equal steps in ln P give similar gains up to 50 MPa, then little gain.
    assert gains[3] < 0.3 * gains[0]
    assert 1.4 < capacities[50.0] / capacities[6.0] < 2.5


def test_coulombic_efficiency_is_the_configured_one_after_the_first_cycle():
    cell = cell_at(50.0)
    current = c_rate_current_A(cell, 0.01)
    run(cell, current), run(cell, -current)
    charge = run(cell, current).capacity_mAh
    discharge = run(cell, -current).capacity_mAh
    assert discharge / charge == pytest.approx(0.995, abs=0.004)


def test_limited_lithium_inventory_holds_capacity_then_falls_at_a_knee():
    base = CellParameters()
    params = dataclasses.replace(
        base, electrochemistry=dataclasses.replace(base.electrochemistry, n_to_p_ratio=0.5)
    )
    cell = cell_at(50.0, params)
    reserve_mAh = cell.anode_lithium_mAh
    current = c_rate_current_A(cell, 0.1)
    charges, capacities = [], []
    for _ in range(32):
        charges.append(run(cell, current, hours=12.0, record_s=60.0).capacity_mAh)
        capacities.append(run(cell, -current, hours=12.0, record_s=60.0).capacity_mAh)
    capacities = np.array(capacities) / capacities[1]
    # 4 % of each charge becomes dead lithium: the reserve lasts reserve / (0.04 × charge).
    expected_knee = reserve_mAh / (0.04 * 0.995 * np.median(charges[1:10]))
    knee = int(np.argmax(capacities < 0.97))
    assert abs(knee - expected_knee) < 3
    assert np.all(capacities[1 : knee - 1] > 0.98)
    assert capacities[-1] < 0.9 * capacities[knee]


def symmetric_params(ccd_mA_cm2: float = 1.2, **interface: float) -> CellParameters:
    """A symmetric Li | SSE | Li cell (no cathode) with the given interface."""
    return CellParameters.from_mapping(
        {
            "geometry": {"electrode_mass_mg": 0.0},
            "electrochemistry": {"cell_type": "symmetric"},
            "interface": {"critical_current_density_mA_cm2": ccd_mA_cm2, **interface},
        }
    )


def test_symmetric_cell_polarises_ohmically_below_the_critical_current_density():
    cell = cell_at(50.0, symmetric_params())
    current = 0.6e-3 * cell.area_cm2  # 0.6 mA/cm²
    plating = run(cell, current, hours=1.0, record_s=10.0, cutoffs=(-5.0, 5.0))
    stripping = run(cell, -current, hours=1.0, record_s=10.0, cutoffs=(-5.0, 5.0))
    assert plating.reason == stripping.reason == "time_limit"
    assert np.median(plating.voltage_V) > 0 > np.median(stripping.voltage_V)
    assert np.ptp(plating.voltage_V[1:]) < 0.05 * abs(np.median(plating.voltage_V))


def test_the_polarisation_is_the_spectrums_interface_arc_at_every_pressure():
    """One interface: the overpotential of a symmetric cell is I × (R0 + R_b + R_gb + R_ct) of
    the spectrum's circuit, and both fall with pressure by the interface's exponent."""
    params = symmetric_params(ccd_mA_cm2=100.0, asr_ohm_cm2=80.0, pressure_exponent=0.5)
    ratios = []
    for pressure in (5.0, 20.0, 80.0):
        circuit = circuit_at(microstructure_at(pressure, params), params)
        cell = cell_at(pressure, params)
        current = 0.2e-3 * cell.area_cm2
        plating = run(cell, current, hours=1.0, record_s=10.0, cutoffs=(-5.0, 5.0))
        total = circuit.R0_ohm + circuit.R_b_ohm + circuit.R_gb_ohm + circuit.R_ct_ohm
        assert np.median(plating.voltage_V) == pytest.approx(current * total, rel=0.01)
        assert circuit.R_ct_ohm == pytest.approx(
            2 * 80.0 / cell.area_cm2 * (pressure / 100.0) ** -0.5
        )
        ratios.append(circuit.R_ct_ohm)
    assert ratios[0] / ratios[1] == pytest.approx(2.0)


def staircase_failure(
    cell: ElectrochemicalCell, record_s: float, step_mA_cm2: float = 0.2
) -> tuple[float | None, list[np.ndarray]]:
    """Run a time-mode CCD staircase (1 h half cycles); the density that shorted, if any."""
    voltages = []
    for k in range(1, 30):
        current = k * step_mA_cm2 * 1e-3 * cell.area_cm2
        for sign in (1, -1):
            half = run(cell, sign * current, hours=1.0, record_s=record_s, cutoffs=(-5.0, 5.0))
            voltages.append(half.voltage_V)
            if half.reason == "short_circuit":
                return k * step_mA_cm2, voltages
    return None, voltages


@pytest.mark.parametrize("ccd_mA_cm2", [0.3, 1.2, 2.5])
@pytest.mark.parametrize("record_s", [0.9, 10.0, 60.0])
def test_a_staircase_shorts_at_its_first_step_above_the_critical_current_density(
    ccd_mA_cm2, record_s
):
    """Dendrite onset is a physical criterion: the first step above the CCD shorts, so the
    staircase reports the configured CCD within one step, whatever the record interval."""
    cell = cell_at(50.0, symmetric_params(ccd_mA_cm2=ccd_mA_cm2, asr_ohm_cm2=10.0))
    failed_at, voltages = staircase_failure(cell, record_s)
    assert failed_at is not None and ccd_mA_cm2 < failed_at <= ccd_mA_cm2 + 0.2 + 1e-9
    # Polarisation rises sharply before the voltage collapses to near zero (seen when points
    # are recorded faster than the filament grows).
    last = np.abs(voltages[-1])
    assert last[-1] < 0.01 * last.max()
    if record_s <= 10.0:
        assert last.max() > 1.2 * last[1]


def test_stripping_faster_than_creep_supplies_leaves_voids_that_raise_the_polarisation():
    """Void formation: below creep supply × pressure the contact holds; above it the contact
    falls with the charge stripped, the polarisation rises, and a higher pressure closes the
    voids."""
    params = symmetric_params(
        ccd_mA_cm2=100.0, creep_supply_mA_cm2_per_MPa=0.1, asr_ohm_cm2=2.0, pressure_exponent=0.0
    )
    cell = cell_at(5.0, params)  # creep refills up to 0.5 mA/cm²
    slow = 0.4e-3 * cell.area_cm2
    first = abs(np.median(run(cell, slow, hours=1.0, record_s=10.0, cutoffs=WIDE_V).voltage_V))
    run(cell, -slow, hours=1.0, record_s=10.0, cutoffs=WIDE_V)
    assert cell.contact_fraction == 1.0
    fast = 1.0e-3 * cell.area_cm2
    medians = [
        abs(np.median(run(cell, sign * fast, hours=1.0, record_s=10.0, cutoffs=WIDE_V).voltage_V))
        for sign in (1, -1, 1, -1)
    ]
    # 0.5 mAh/cm² beyond the supply per half cycle: contact 1 / (1 + 0.5 k / 0.05).
    assert cell.contact_fraction == pytest.approx(1 / (1 + 4 * 0.5 / 0.05), rel=0.01)
    assert np.all(np.diff(medians) > 0) and medians[0] > 2 * first
    cell.set_conditions(20.0, cell.series_resistance_ohm, cell.charge_transfer_resistance_ohm)
    assert cell.contact_fraction == 1.0


def test_voids_focus_the_current_so_a_dendrite_grows_below_the_critical_current_density():
    params = symmetric_params(
        ccd_mA_cm2=2.0, creep_supply_mA_cm2_per_MPa=0.1, asr_ohm_cm2=2.0, pressure_exponent=0.0
    )
    cell = cell_at(5.0, params)
    current = 1.0e-3 * cell.area_cm2  # half the CCD, twice the creep supply
    reasons = [
        run(cell, sign * current, hours=1.0, record_s=10.0, cutoffs=WIDE_V).reason
        for sign in (1, -1, 1)
    ]
    assert "short_circuit" in reasons


def test_contact_loss_grows_polarisation_slowly_and_pressure_restores_it():
    params = symmetric_params(contact_loss_per_h=1e-3)
    cell = cell_at(25.0, params)
    current = 0.2e-3 * cell.area_cm2
    first = np.median(run(cell, current, hours=1.0, record_s=10.0, cutoffs=(-5, 5)).voltage_V)
    for _ in range(100):
        run(cell, current, hours=1.0, record_s=60.0, cutoffs=(-5, 5))
        run(cell, -current, hours=1.0, record_s=60.0, cutoffs=(-5, 5))
    later = np.median(run(cell, current, hours=1.0, record_s=10.0, cutoffs=(-5, 5)).voltage_V)
    # +10 %/100 h on the interface part of the resistance, over 201 h under current.
    interface = cell.charge_transfer_resistance_ohm
    expected = (cell.series_resistance_ohm + (1 + 201e-3) * interface) / (
        cell.series_resistance_ohm + interface
    )
    assert later / first == pytest.approx(expected, rel=0.02)
    assert not cell.shorted
    cell.set_conditions(50.0, cell.series_resistance_ohm, cell.charge_transfer_resistance_ohm)
    assert cell.hours_under_current == 0.0


def test_a_trace_that_would_overflow_the_buffer_is_refused():
    cell = cell_at(50.0)
    with pytest.raises(ValueError, match="record interval"):
        HalfCycle(
            cell,
            HalfCycleLimits(1e-6, UPPER_V, LOWER_V, 100 * HOUR_S, math.inf, 10.0),
            max_points=4096,
        )


def test_same_seed_same_trace():
    traces = []
    for _ in range(2):
        cell = cell_at(25.0, seed=3)
        traces.append(run(cell, c_rate_current_A(cell, 0.01)).voltage_V)
    np.testing.assert_array_equal(*traces)


def test_a_current_the_cell_cannot_carry_within_the_compliance_ends_there():
    """A blocked symmetric cell (a huge interface ASR) at 5 µA: the instrument's output stops at
    its 10 V compliance, which it records, and ends the half cycle there (not at 65 V)."""
    params = CellParameters.from_mapping(
        {
            "geometry": {"electrode_mass_mg": 0.0},
            "electrochemistry": {"cell_type": "symmetric"},
            "interface": {"asr_ohm_cm2": 1e7},
        }
    )
    cell = cell_at(25.0, params)
    limits = HalfCycleLimits(5e-6, 50.0, -50.0, HOUR_S, math.inf, 10.0, compliance_voltage_V=10.0)
    half = HalfCycle(cell, limits, max_points=4096)
    while not half.done:
        half.advance(2000.0)
    assert half.reason == "compliance"
    assert np.nanmax(np.abs(half.voltage_V)) <= 10.0
    assert half.voltage_V[-1] == pytest.approx(10.0)
