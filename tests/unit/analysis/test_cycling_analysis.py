"""Cycling analysis against the electrochemistry model's truth (no EPICS: the model directly)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acq.analysis.cycling import (
    HalfCycle,
    capacity_knee,
    capacity_retention,
    classify_symmetric_failure,
    cycle_metrics,
    pair_cycles,
    retention_summary,
)
from simulated_devices.cell import SimulatedCell
from simulated_devices.physics.clock import SimClock
from simulated_devices.physics.electrochemistry import HalfCycle as ModelHalfCycle
from simulated_devices.physics.electrochemistry import HalfCycleLimits
from simulated_devices.physics.parameters import CellParameters

BUFFER_POINTS = 4096


def cell_at(
    pressure_MPa: float, interface: dict | None = None, **electrochemistry
) -> SimulatedCell:
    """A simulated cell with these electrochemistry and interface parameters (a symmetric
    one without a cathode)."""
    tables = {"electrochemistry": electrochemistry, "interface": interface or {}}
    if electrochemistry.get("cell_type") == "symmetric":
        tables["geometry"] = {"electrode_mass_mg": 0.0}
    params = CellParameters.from_mapping(tables)
    cell = SimulatedCell(params, SimClock(1.0), seed=0)
    cell.set_pressure(pressure_MPa)
    return cell


def run_half(
    cell: SimulatedCell,
    cycle_index: int,
    step: str,
    current_A: float,
    duration_s: float,
    cutoffs=(3.68, 2.5),
    capacity_mAh=math.inf,
) -> HalfCycle:
    """One half cycle of the model, as the analysis reads it from a ``half_cycle`` event;
    ``cutoffs`` are (upper, lower), V."""
    limits = HalfCycleLimits(current_A, *cutoffs, duration_s, capacity_mAh, duration_s / 1000)
    model = ModelHalfCycle(cell.electrochemistry, limits, BUFFER_POINTS)
    model.advance(duration_s)
    return HalfCycle(
        cycle_index,
        step,
        model.time_s,
        model.voltage_V,
        model.current_A,
        model.capacity_mAh,
        model.reason,
    )


def full_cycles(cell: SimulatedCell, cycles: int, c_rate: float) -> list[HalfCycle]:
    current = c_rate * cell.electrochemistry.nominal_capacity_mAh * 1e-3
    duration = 1.5 * 3600 / c_rate
    halves = []
    for index in range(cycles):
        halves.append(run_half(cell, index, "charge", current, duration))
        halves.append(run_half(cell, index, "discharge", -current, duration))
    return halves


def test_cycle_metrics_recover_the_models_capacity_and_efficiency():
    cell = cell_at(25.0)
    params = cell.params
    halves = full_cycles(cell, 3, c_rate=0.01)
    metrics = [
        cycle_metrics(
            c, d, active_mass_g=params.geometry.active_mass_g, area_cm2=params.geometry.area_cm2
        )
        for c, d in pair_cycles(halves)
    ]
    assert len(metrics) == 3
    for (_charge, discharge), m in list(zip(pair_cycles(halves), metrics, strict=True))[1:]:
        # the first charge starts from the initial state; later cycles are steady
        assert m.coulombic_efficiency == pytest.approx(
            params.electrochemistry.coulombic_efficiency, abs=0.005
        )
        assert m.discharge_capacity_mAh == discharge.capacity_mAh
        assert m.discharge_capacity_mAh_g == pytest.approx(
            discharge.capacity_mAh / params.geometry.active_mass_g
        )
        assert m.discharge_capacity_mAh_cm2 == pytest.approx(
            discharge.capacity_mAh / params.geometry.area_cm2
        )
        assert m.discharge_capacity_mAh <= cell.electrochemistry.accessible_capacity_mAh
        # mid-point voltages straddle the OCV window; energy = capacity × mean voltage
        ocv = params.electrochemistry
        assert ocv.ocv_discharged_V < m.charge_mid_voltage_V < 3.68
        assert 2.5 < m.discharge_mid_voltage_V < m.charge_mid_voltage_V
        assert m.overpotential_V > 0
        assert m.discharge_energy_mWh == pytest.approx(
            m.discharge_capacity_mAh * np.mean(discharge.voltage_V), rel=0.05
        )
        assert 0.8 < m.energy_efficiency < 1.0


def test_capacity_knee_of_a_limited_lithium_cell_is_found():
    """N/P 0.5 with 4 % of each charge lost: capacity holds, then falls at a knee where the
    model's lithium reserve runs out, after reserve / (loss × CE × charge) cycles."""
    cell = cell_at(50.0, n_to_p_ratio=0.5, lithium_loss_per_cycle=0.04)
    reserve_mAh = cell.electrochemistry.anode_lithium_mAh
    halves = full_cycles(cell, 36, c_rate=0.1)
    pairs = pair_cycles(halves)
    discharge = [d.capacity_mAh for _, d in pairs]
    charge = np.median([c.capacity_mAh for c, _ in pairs[1:10]])
    expected = reserve_mAh / (0.04 * 0.995 * charge)
    knee = capacity_knee(discharge)
    retention = capacity_retention(discharge)
    assert knee == pytest.approx(expected, abs=3)
    assert retention[knee - 3] > 0.97 and retention[-1] < 0.9


def test_the_retention_summary_names_the_knee_and_the_end_of_life_of_a_limited_lithium_cell():
    cell = cell_at(50.0, n_to_p_ratio=0.5, lithium_loss_per_cycle=0.04)
    pairs = pair_cycles(full_cycles(cell, 36, c_rate=0.1))
    discharge = [d.capacity_mAh for _, d in pairs]
    indices = [c.cycle_index for c, _ in pairs]
    summary = retention_summary(discharge, indices)
    assert summary["capacity_knee_found"] is True
    assert summary["capacity_knee_cycle"] == indices[capacity_knee(discharge)]
    retention = capacity_retention(discharge)
    assert summary["end_of_life_found"] is True
    first_below = int(np.flatnonzero(retention < 0.8)[0])
    assert summary["end_of_life_cycle"] == indices[first_below] > summary["capacity_knee_cycle"]
    assert summary["final_retention"] == pytest.approx(retention[-1])


def test_a_cell_that_holds_its_capacity_has_no_knee_and_no_end_of_life_explicitly():
    summary = retention_summary([1.0, 0.999, 0.998, 0.997, 0.996, 0.995, 0.994], range(7))
    assert summary["capacity_knee_found"] is False and math.isnan(summary["capacity_knee_cycle"])
    assert summary["end_of_life_found"] is False and math.isnan(summary["end_of_life_cycle"])
    assert "capacity_knee_found" not in retention_summary([1.0, 0.9, 0.7], range(3))


def test_no_knee_while_capacity_holds():
    assert capacity_knee([1.0, 0.999, 0.998, 0.997, 0.996, 0.995, 0.994, 0.993]) is None


def symmetric_staircase(cell: SimulatedCell, densities_mA_cm2, hours: float = 1.0):
    area = cell.params.geometry.area_cm2
    halves = []
    for index, density in enumerate(densities_mA_cm2):
        current = density * 1e-3 * area
        for step, sign in (("plating", 1), ("stripping", -1)):
            half = run_half(cell, index, step, sign * current, hours * 3600, cutoffs=(5, -5))
            halves.append(half)
            if half.termination_reason == "short_circuit":
                return halves
    return halves


def test_a_dendrite_short_is_found_with_its_critical_current_density():
    cell = cell_at(25.0, cell_type="symmetric", interface={"critical_current_density_mA_cm2": 1.2})
    halves = symmetric_staircase(cell, np.arange(0.2, 3.01, 0.2))
    failure = classify_symmetric_failure(halves, cell.params.geometry.area_cm2)
    assert failure.failure == "dendrite_short"
    assert failure.critical_current_density_mA_cm2 == pytest.approx(1.4)  # the next step


def test_contact_loss_is_told_apart_from_a_short():
    lossy = cell_at(25.0, cell_type="symmetric", interface={"contact_loss_per_h": 0.05})
    halves = symmetric_staircase(lossy, [0.2] * 10)
    failure = classify_symmetric_failure(halves, lossy.params.geometry.area_cm2)
    assert failure.failure == "contact_loss"
    assert failure.critical_current_density_mA_cm2 is None
    assert failure.polarisation_growth_per_cycle > 0.02

    healthy = cell_at(25.0, cell_type="symmetric")
    halves = symmetric_staircase(healthy, [0.2] * 10)
    failure = classify_symmetric_failure(halves, healthy.params.geometry.area_cm2)
    assert failure.failure is None
    assert failure.as_dict()["failure"] == "none"  # recorded explicitly, not as NaN
    assert abs(failure.polarisation_growth_per_cycle) < 0.001
