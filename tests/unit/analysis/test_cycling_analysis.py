"""Cycling analysis against the electrochemistry model's truth (no EPICS: the model directly)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from acq.analysis.cycling import (
    CONTACT_LOSS_RISE,
    HalfCycle,
    capacity_knee,
    capacity_retention,
    classify_full_cell_failure,
    classify_symmetric_failure,
    cycle_metrics,
    hysteresis_asr,
    hysteresis_trend,
    pair_cycles,
    retention_summary,
)
from acq.analysis.pressure_point import PressurePointAnalysis
from acq.config import STATIONS_DIR, load_config
from acq.services import simulation_parameters
from conventions.cycling import half_cycle_failure
from conventions.impedance import DEFAULT_CIRCUIT
from conventions.pv_states import HalfCycleEnd
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
    assert summary["capacity_knee_cycle"] == indices[capacity_knee(discharge)]
    retention = capacity_retention(discharge)
    first_below = int(np.flatnonzero(retention < 0.8)[0])
    assert summary["end_of_life_cycle"] == indices[first_below] > summary["capacity_knee_cycle"]
    assert summary["final_retention"] == pytest.approx(retention[-1])


def test_the_knee_of_a_limited_lithium_run_is_where_the_models_lithium_excess_runs_out():
    """N/P 1.1 (docs/science.md's lowest): the truth is the first cycle whose discharge
    leaves the model's anode with less than 1 % of the nominal capacity in lithium."""
    cell = cell_at(50.0, n_to_p_ratio=1.1, lithium_loss_per_cycle=0.04)
    chem = cell.electrochemistry
    current = 0.1 * chem.nominal_capacity_mAh * 1e-3
    discharge, reserve = [], []
    for index in range(70):
        run_half(cell, index, "charge", current, 15 * 3600)
        discharge.append(run_half(cell, index, "discharge", -current, 15 * 3600).capacity_mAh)
        reserve.append(chem.anode_lithium_mAh / chem.nominal_capacity_mAh)
    truth = int(np.flatnonzero(np.array(reserve) < 0.01)[0])
    summary = retention_summary(discharge, range(len(discharge)))
    assert abs(summary["capacity_knee_cycle"] - truth) <= 0.05 * truth
    assert summary["capacity_knee_cycle"] < summary["end_of_life_cycle"] < len(discharge)


def test_a_cell_that_holds_its_capacity_has_no_knee_and_no_end_of_life_explicitly():
    summary = retention_summary([1.0, 0.999, 0.998, 0.997, 0.996, 0.995, 0.994], range(7))
    assert summary["capacity_knee_cycle"] == "none"
    assert summary["end_of_life_cycle"] == "none"
    assert "capacity_knee_cycle" not in retention_summary([1.0, 0.9, 0.7], range(3))


def test_no_knee_while_capacity_holds():
    assert capacity_knee([1.0, 0.999, 0.998, 0.997, 0.996, 0.995, 0.994, 0.993]) is None


def symmetric_cell(**interface) -> SimulatedCell:
    """A symmetric cell at 25 MPa whose interfaces (ASR independent of pressure unless given)
    are ``interface``."""
    return cell_at(25.0, {"pressure_exponent": 0.0, **interface}, cell_type="symmetric")


def staircase(
    cell: SimulatedCell, densities_mA_cm2, hours: float = 1.0, cutoff_V: float = 5.0
) -> list[HalfCycle]:
    """Plating then stripping at each density, stopped at the first failure, as
    `plans.critical_current_density` runs it."""
    area = cell.params.geometry.area_cm2
    halves = []
    for index, density in enumerate(densities_mA_cm2):
        current = density * 1e-3 * area
        for step, sign in (("plating", 1), ("stripping", -1)):
            half = run_half(
                cell, index, step, sign * current, hours * 3600, cutoffs=(cutoff_V, -cutoff_V)
            )
            halves.append(half)
            if half_cycle_failure(half.termination_reason, half.voltage_V):
                return halves
    return halves


def run_summary(cell: SimulatedCell, technique: dict, halves) -> dict:
    """The analysis run's summary of a run of ``cell`` (as `LiveAnalysis` makes it) whose
    start document's technique is ``technique``."""
    geometry = cell.params.geometry
    start = {
        "pressure_MPa": cell.electrochemistry.pressure_MPa,
        "cell": {
            "area_cm2": geometry.area_cm2,
            "electrode_mass_mg": geometry.electrode_mass_mg,
            "active_mass_fraction": geometry.active_mass_fraction,
            "electrolyte_mass_mg": geometry.electrolyte_mass_mg,
            "cell_type": cell.params.electrochemistry.cell_type,
        },
        "technique": technique,
    }
    point = PressurePointAnalysis.from_start(start, DEFAULT_CIRCUIT)
    for half in halves:
        point.add_half_cycle(half)
    (summary,) = point.streams()["summary"]
    return summary


def ccd_summary(cell: SimulatedCell, densities_mA_cm2, halves) -> dict:
    """The analysis run's summary of a CCD run of ``cell``."""
    technique = {"name": "CCD", "current_densities_mA_cm2": list(densities_mA_cm2)}
    return run_summary(cell, technique, halves)


DENSITIES_MA_CM2 = [round(0.2 * k, 10) for k in range(1, 16)]  # 0.2 … 3.0


def test_a_ccd_dendrite_short_is_in_the_summary_with_its_step_and_the_density_it_passed():
    cell = symmetric_cell(critical_current_density_mA_cm2=1.2)
    halves = staircase(cell, DENSITIES_MA_CM2)
    summary = ccd_summary(cell, DENSITIES_MA_CM2, halves)
    assert summary["failure"] in ("short_circuit", "voltage_collapse")  # a dendrite short
    step = halves[-1].cycle_index
    assert summary["failed_step_index"] == step
    assert summary["failed_half_cycle"] == halves[-1].step
    assert summary["critical_current_density_mA_cm2"] == DENSITIES_MA_CM2[step]
    assert summary["last_passed_mA_cm2"] == DENSITIES_MA_CM2[step - 1]
    assert 1.2 <= summary["last_passed_mA_cm2"] < summary["critical_current_density_mA_cm2"]


def test_a_ccd_blocked_at_the_cutoff_is_in_the_summary():
    """Interfaces of 5000 Ω·cm²: 2 V at 0.2 mA/cm², past the 5 V cut-off at 0.6 mA/cm²."""
    cell = symmetric_cell(asr_ohm_cm2=5000.0)
    halves = staircase(cell, DENSITIES_MA_CM2)
    summary = ccd_summary(cell, DENSITIES_MA_CM2, halves)
    assert summary["failure"] == "blocked"
    assert (summary["failed_step_index"], summary["failed_half_cycle"]) == (2, "plating")
    assert summary["critical_current_density_mA_cm2"] == pytest.approx(0.6)
    assert summary["last_passed_mA_cm2"] == pytest.approx(0.4)


def test_a_ccd_that_did_not_fail_says_none_and_the_highest_density_it_carried():
    cell = symmetric_cell(critical_current_density_mA_cm2=1.2)
    densities = DENSITIES_MA_CM2[:5]  # up to 1.0 mA/cm²
    summary = ccd_summary(cell, densities, staircase(cell, densities))
    for key in ("failure", "critical_current_density_mA_cm2", "failed_step_index"):
        assert summary[key] == "none", key
    assert summary["failed_half_cycle"] == "none"
    assert summary["last_passed_mA_cm2"] == pytest.approx(1.0)


def test_contact_loss_is_found_on_a_ccd_staircase_of_two_half_cycles_per_current():
    """The model's interfaces lose 5 %/h of contact over the staircase's 10 h below the
    CCD; the electrolyte and leads in series with them do not, so the cell's area-specific
    polarisation grows by 5 %/h × the interfaces' share of it."""
    cell = symmetric_cell(contact_loss_per_h=0.05)
    densities = DENSITIES_MA_CM2[:5]
    summary = ccd_summary(cell, densities, staircase(cell, densities))
    assert summary["failure"] == "contact_loss"
    assert summary["critical_current_density_mA_cm2"] == "none"
    series_ohm_cm2 = cell.electrochemistry.series_resistance_ohm * cell.params.geometry.area_cm2
    interface_share = 1 - series_ohm_cm2 / summary["polarisation_asr_ohm_cm2"]
    assert summary["polarisation_growth_per_h"] == pytest.approx(0.05 * interface_share, rel=0.05)
    assert summary["polarisation_rise"] == pytest.approx(10 * summary["polarisation_growth_per_h"])


def test_an_ohmic_cell_at_rising_current_is_no_contact_loss():
    cell = symmetric_cell(critical_current_density_mA_cm2=5.0)
    halves = staircase(cell, DENSITIES_MA_CM2[:10])
    failure = classify_symmetric_failure(halves, cell.params.geometry.area_cm2)
    assert halves[-1].polarisation_V > 9 * halves[0].polarisation_V  # the voltage rose
    assert failure.failure is None
    assert failure.as_dict()["failure"] == "none"  # recorded explicitly, not as NaN
    assert abs(failure.polarisation.growth_per_h) < 1e-3
    assert failure.polarisation.asr_ohm_cm2 == pytest.approx(
        halves[0].polarisation_asr_ohm_cm2(cell.params.geometry.area_cm2), rel=1e-3
    )


def test_a_dendrite_short_after_a_sharp_rise_is_a_short_not_contact_loss():
    """Above the CCD the dendrite raises the polarisation steeply within the half cycle
    before it shorts: the failure is the short, at its step."""
    cell = symmetric_cell(critical_current_density_mA_cm2=1.2)
    halves = staircase(cell, DENSITIES_MA_CM2)
    area = cell.params.geometry.area_cm2
    shorted = np.abs(halves[-1].voltage_V)
    assert shorted.max() > 1.3 * shorted[1]  # the sharp rise
    failure = classify_symmetric_failure(halves, area)
    assert failure.failure in ("short_circuit", "voltage_collapse")
    assert failure.failed_step_index == halves[-1].cycle_index


def test_slow_contact_loss_at_constant_current_is_told_from_a_healthy_cell():
    lossy = symmetric_cell(contact_loss_per_h=0.05)
    area = lossy.params.geometry.area_cm2
    failure = classify_symmetric_failure(staircase(lossy, [0.2] * 10), area)
    assert failure.failure == "contact_loss"
    assert failure.critical_current_density_mA_cm2 is None
    assert failure.polarisation.growth_per_h > 0.01

    healthy = symmetric_cell()
    failure = classify_symmetric_failure(staircase(healthy, [0.2] * 10), area)
    assert failure.as_dict()["failure"] == "none"
    assert abs(failure.polarisation.growth_per_h) < 1e-3


def lfp_cell(contact_loss_per_h: float, pressure_MPa: float = 50.0) -> SimulatedCell:
    """The shipped limited-lithium LFP station's cell (`acq/config/stations/
    lfp_limited_lithium.toml`) whose interface loses ``contact_loss_per_h`` of contact per
    hour under current."""
    params = simulation_parameters(load_config(STATIONS_DIR / "lfp_limited_lithium.toml"))
    interface = dataclasses.replace(params.interface, contact_loss_per_h=contact_loss_per_h)
    cell = SimulatedCell(dataclasses.replace(params, interface=interface), SimClock(1.0), seed=0)
    cell.set_pressure(pressure_MPa)
    return cell


def lfp_cycles(cell: SimulatedCell, c_rates) -> list[HalfCycle]:
    """One charge and discharge at each C-rate, 2.5–4.0 V, as `lithium_inventory_cycling`
    cycles LFP."""
    current = cell.electrochemistry.nominal_capacity_mAh * 1e-3
    halves = []
    for index, c_rate in enumerate(c_rates):
        for step, sign in (("charge", 1), ("discharge", -1)):
            halves.append(
                run_half(cell, index, step, sign * c_rate * current, 3 * 3600 / c_rate, (4.0, 2.5))
            )
    return halves


def model_asr_ohm_cm2(cell: SimulatedCell) -> tuple[float, float]:
    """The model's area-specific polarisation of a full cell (electrolyte and leads in series
    with the interface), Ω·cm², and the interface's share of it."""
    chem = cell.electrochemistry
    series_ohm, interface_ohm = chem.series_resistance_ohm, chem.charge_transfer_resistance_ohm
    asr = (series_ohm + interface_ohm) * cell.params.geometry.area_cm2
    return asr, interface_ohm / (series_ohm + interface_ohm)


LFP_CYCLING = {"name": "CP", "retention": 0.8}


def test_a_full_cells_contact_loss_is_its_hysteresis_growing_at_the_models_rate():
    """The LFP cell's interface loses 1 %/h of contact over 10 cycles at C/5 (41 h under
    current, each cycle shorter as the cut-offs come earlier): its charge/discharge
    hysteresis at matched state of charge gives the model's polarisation and its growth,
    1 %/h × the interface's share of it, and the summary says contact loss."""
    cell = lfp_cell(contact_loss_per_h=0.01)
    asr_ohm_cm2, interface_share = model_asr_ohm_cm2(cell)
    halves = lfp_cycles(cell, [0.2] * 10)
    summary = run_summary(cell, LFP_CYCLING, halves)
    assert summary["failure"] == "contact_loss"
    assert summary["failed_cycle_index"] == "none"
    assert summary["polarisation_asr_ohm_cm2"] == pytest.approx(asr_ohm_cm2, rel=0.01)
    assert summary["polarisation_growth_per_h"] == pytest.approx(0.01 * interface_share, rel=0.1)
    hours = sum(half.duration_h for half in halves)
    assert summary["polarisation_rise"] == pytest.approx(
        hours * summary["polarisation_growth_per_h"]
    )
    assert summary["polarisation_rise"] > CONTACT_LOSS_RISE


def test_a_full_cell_without_contact_loss_has_a_flat_polarisation_at_any_rate():
    """No contact loss, cycled at C/20 to C/5: the mid-point overpotential grows with the
    current, the hysteresis ASR stays the model's."""
    cell = lfp_cell(contact_loss_per_h=0.0)
    asr_ohm_cm2, _ = model_asr_ohm_cm2(cell)
    halves = lfp_cycles(cell, [0.05, 0.1, 0.2, 0.05])
    summary = run_summary(cell, LFP_CYCLING, halves)
    assert summary["failure"] == "none"  # recorded explicitly, not as NaN
    assert summary["polarisation_asr_ohm_cm2"] == pytest.approx(asr_ohm_cm2, rel=0.01)
    assert abs(summary["polarisation_growth_per_h"]) < 1e-4
    area = cell.params.geometry.area_cm2
    for charge, discharge in pair_cycles(halves):
        assert hysteresis_asr(charge, discharge, area)[0] == pytest.approx(asr_ohm_cm2, rel=0.01)
    overpotentials_V = [
        cycle_metrics(*pair, active_mass_g=1.0, area_cm2=area).overpotential_V
        for pair in pair_cycles(halves)
    ]
    assert overpotentials_V[2] > 3 * overpotentials_V[0]  # C/5 against C/20


def test_a_full_cells_short_is_its_failure_and_its_trend_stops_before_it():
    cell = lfp_cell(contact_loss_per_h=0.0)
    halves = lfp_cycles(cell, [0.2] * 4)
    shorted = dataclasses.replace(halves[5], termination_reason=HalfCycleEnd.SHORT_CIRCUIT)
    failure = classify_full_cell_failure(
        [*halves[:5], shorted, *halves[6:]], cell.params.geometry.area_cm2
    )
    assert (failure.failure, failure.failed_cycle_index, failure.failed_half_cycle) == (
        "short_circuit",
        2,
        "discharge",
    )
    assert failure.polarisation == hysteresis_trend(halves[:5], cell.params.geometry.area_cm2)


def test_a_staircase_on_a_full_cell_tells_contact_loss_from_its_hysteresis():
    """A CCD staircase recorded on a full cell (before the plan refused one): each step's
    plating and stripping are a charge and a discharge, their hysteresis its polarisation."""
    densities = DENSITIES_MA_CM2[:10]
    for contact_loss_per_h, failure in ((0.02, "contact_loss"), (0.0, "none")):
        cell = lfp_cell(contact_loss_per_h)
        asr_ohm_cm2, interface_share = model_asr_ohm_cm2(cell)
        summary = ccd_summary(cell, densities, staircase(cell, densities))
        assert summary["failure"] == failure
        assert summary["polarisation_asr_ohm_cm2"] == pytest.approx(asr_ohm_cm2, rel=0.03)
        assert summary["polarisation_growth_per_h"] == pytest.approx(
            contact_loss_per_h * interface_share, abs=0.002
        )


def test_the_hysteresis_matches_the_state_of_charge_of_half_cycles_of_unequal_charge():
    """A discharge stopped at half the charge: the two mid-points lie a quarter of the charge
    apart on the sloped OCV, the states matched from the top of charge do not."""
    cell = lfp_cell(contact_loss_per_h=0.0)
    asr_ohm_cm2, _ = model_asr_ohm_cm2(cell)
    area = cell.params.geometry.area_cm2
    current = 0.2 * cell.electrochemistry.nominal_capacity_mAh * 1e-3
    lfp_cycles(cell, [0.2])  # from the initial state to a steady one
    charge = run_half(cell, 1, "charge", current, 15 * 3600, (4.0, 2.5))
    discharge = run_half(
        cell, 1, "discharge", -current, 15 * 3600, (4.0, 2.5), charge.capacity_mAh / 2
    )
    assert discharge.termination_reason == HalfCycleEnd.CAPACITY_LIMIT
    assert hysteresis_asr(charge, discharge, area)[0] == pytest.approx(asr_ohm_cm2, rel=0.005)
    mid_point = cycle_metrics(charge, discharge, active_mass_g=1.0, area_cm2=area)
    assert mid_point.overpotential_V * area / current < 0.98 * asr_ohm_cm2
