"""Galvanostatic cycling: per-cycle capacity, efficiency, voltages and energy; retention and
its knee; how and where on its staircase a symmetric cell failed (a dendrite short, a blocked
interface), and for any cell contact loss from its area-specific polarisation's trend (a
symmetric cell's |V| / |j|, a full cell's charge/discharge hysteresis at matched state of
charge).

Input is what a ``half_cycle`` event holds (`plans.cycling`): the instrument's trace (time,
voltage, current; NaN-padded to the buffer length), its capacity and termination reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from conventions import data_keys
from conventions.cycling import (
    BLOCKED,
    COLLAPSE_FRACTION,
    SHORT_CIRCUIT,
    VOLTAGE_COLLAPSE,
    half_cycle_failure,
)

#: Seconds per hour.
HOUR_S = 3600.0
#: What a summary records where there is nothing to name (no failure, no knee, no end of
#: life reached): a string, explicitly, never NaN or None.
NONE = "none"
#: A cell's failure when its area-specific polarisation rose by more than
#: `CONTACT_LOSS_RISE` over its time under current, without a short, collapse or block.
CONTACT_LOSS = "contact_loss"
#: Rise of the area-specific polarisation over the time under current (fitted, fraction of
#: its initial value) that counts as contact loss: docs/science.md reports ≈ +20 % over
#: hundreds of hours.
CONTACT_LOSS_RISE = 0.1


@dataclass(frozen=True)
class HalfCycle:
    """One recorded half cycle.

    Attributes
    ----------
    cycle_index
        Cycle number (0-based).
    step
        ``charge``/``discharge`` (full cell) or ``plating``/``stripping`` (symmetric cell).
    time_s, voltage_V, current_A
        The instrument's trace (experiment seconds since the start, V, A), padding removed.
    capacity_mAh
        Charge passed, mAh.
    termination_reason
        Which limit ended it (``upper_cutoff``, ``lower_cutoff``, ``time_limit``,
        ``short_circuit``…).
    """

    cycle_index: int
    step: str
    time_s: np.ndarray
    voltage_V: np.ndarray
    current_A: np.ndarray
    capacity_mAh: float
    termination_reason: str

    @classmethod
    def from_event_data(cls, data: Mapping) -> HalfCycle:
        """From the ``data`` of a ``half_cycle`` event (or one row of the stream)."""
        n = int(data[data_keys.HALF_CYCLE_POINTS])
        return cls(
            cycle_index=int(data[data_keys.CYCLE_INDEX]),
            step=str(data[data_keys.CYCLE_STEP]),
            time_s=np.asarray(data[data_keys.HALF_CYCLE_TIME], dtype=float)[:n],
            voltage_V=np.asarray(data[data_keys.HALF_CYCLE_VOLTAGE], dtype=float)[:n],
            current_A=np.asarray(data[data_keys.HALF_CYCLE_CURRENT], dtype=float)[:n],
            capacity_mAh=float(data[data_keys.HALF_CYCLE_CAPACITY]),
            termination_reason=str(data[data_keys.HALF_CYCLE_REASON]),
        )

    @property
    def energy_mWh(self) -> float:
        """Energy through the cell, |∫ V·I dt|, mWh."""
        if self.time_s.size < 2:
            return float("nan")
        return abs(float(np.trapezoid(self.voltage_V * self.current_A, self.time_s))) / 3.6

    @property
    def charge_passed_mAh(self) -> np.ndarray:
        """Charge passed since the half cycle's start at each point, mAh."""
        passed_As = np.cumsum(np.abs(np.diff(self.time_s) * self.current_A[1:]))
        return np.concatenate([[0.0], passed_As]) / 3.6

    @property
    def mid_point_voltage_V(self) -> float:
        """Voltage at half the passed charge, V."""
        if self.time_s.size < 2:
            return float("nan")
        charge = self.charge_passed_mAh
        return float(np.interp(charge[-1] / 2, charge, self.voltage_V))

    @property
    def polarisation_V(self) -> float:
        """Median |V| over the half cycle (a symmetric cell's polarisation), V."""
        finite = np.abs(self.voltage_V[np.isfinite(self.voltage_V)])
        return float(np.median(finite)) if finite.size else float("nan")

    @property
    def applied_current_A(self) -> float:
        """Median |I| over the half cycle (the galvanostat's current), A."""
        finite = np.abs(self.current_A[np.isfinite(self.current_A)])
        return float(np.median(finite)) if finite.size else float("nan")

    @property
    def duration_h(self) -> float:
        """Time under current, h (0 for fewer than two points)."""
        return float(self.time_s[-1] - self.time_s[0]) / HOUR_S if self.time_s.size > 1 else 0.0

    def current_density_mA_cm2(self, area_cm2: float) -> float:
        """|I| / area, mA/cm²."""
        return self.applied_current_A * 1e3 / area_cm2

    def polarisation_asr_ohm_cm2(self, area_cm2: float) -> float:
        """Area-specific polarisation |V| / |j|, Ω·cm²: comparable across current densities
        (an ohmic cell's is the same at every current)."""
        return self.polarisation_V * area_cm2 / self.applied_current_A


@dataclass(frozen=True)
class CycleMetrics:
    """One charge + discharge of a full cell (capacities per mass and area as well)."""

    cycle_index: int
    charge_capacity_mAh: float
    discharge_capacity_mAh: float
    discharge_capacity_mAh_g: float
    discharge_capacity_mAh_cm2: float
    coulombic_efficiency: float
    charge_mid_voltage_V: float
    discharge_mid_voltage_V: float
    #: Half the gap between the charge and discharge mid-point voltages, V.
    overpotential_V: float
    charge_energy_mWh: float
    discharge_energy_mWh: float
    #: Discharge energy / charge energy.
    energy_efficiency: float

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def cycle_metrics(
    charge: HalfCycle, discharge: HalfCycle, *, active_mass_g: float, area_cm2: float
) -> CycleMetrics:
    """Capacities, efficiencies, voltages and energies of one cycle.

    Parameters
    ----------
    charge, discharge
        The cycle's two half cycles.
    active_mass_g
        Active-material mass, g.
    area_cm2
        Electrode area, cm².
    """
    q_dis = discharge.capacity_mAh
    e_ch, e_dis = charge.energy_mWh, discharge.energy_mWh
    v_ch, v_dis = charge.mid_point_voltage_V, discharge.mid_point_voltage_V
    return CycleMetrics(
        cycle_index=charge.cycle_index,
        charge_capacity_mAh=charge.capacity_mAh,
        discharge_capacity_mAh=q_dis,
        discharge_capacity_mAh_g=q_dis / active_mass_g,
        discharge_capacity_mAh_cm2=q_dis / area_cm2,
        coulombic_efficiency=q_dis / charge.capacity_mAh,
        charge_mid_voltage_V=v_ch,
        discharge_mid_voltage_V=v_dis,
        overpotential_V=(v_ch - v_dis) / 2,
        charge_energy_mWh=e_ch,
        discharge_energy_mWh=e_dis,
        energy_efficiency=e_dis / e_ch,
    )


def pair_cycles(half_cycles: Sequence[HalfCycle]) -> list[tuple[HalfCycle, HalfCycle]]:
    """(charge, discharge) pairs by cycle index; cycles missing a half are left out."""
    by_cycle: dict[int, dict[str, HalfCycle]] = {}
    for half in half_cycles:
        by_cycle.setdefault(half.cycle_index, {})[half.step] = half
    return [
        (steps["charge"], steps["discharge"])
        for _, steps in sorted(by_cycle.items())
        if {"charge", "discharge"} <= steps.keys()
    ]


def capacity_retention(discharge_mAh: Sequence[float], reference_cycles: int = 3) -> np.ndarray:
    """Discharge capacity relative to the largest of the first ``reference_cycles``."""
    capacities = np.asarray(discharge_mAh, dtype=float)
    return capacities / capacities[:reference_cycles].max()


def capacity_knee(discharge_mAh: Sequence[float]) -> int | None:
    """Cycle index where capacity fade turns from slow to fast (two-line fit).

    The capacity-vs-cycle curve is fitted by two straight lines meeting at a break; the
    break with the least squared error wins. None when there are fewer than 6 cycles or the
    second line does not fall faster than the first (no knee).
    """
    y = np.asarray(discharge_mAh, dtype=float)
    if y.size < 6:
        return None
    x = np.arange(y.size, dtype=float)
    best, best_error = None, np.inf
    for k in range(2, y.size - 2):
        error, slopes = 0.0, []
        for xs, ys in ((x[: k + 1], y[: k + 1]), (x[k:], y[k:])):
            coefficients, residuals, *_ = np.polyfit(xs, ys, 1, full=True)
            slopes.append(coefficients[0])
            error += float(residuals[0]) if residuals.size else 0.0
        if slopes[1] < 2 * min(slopes[0], 0.0) - 1e-12 and error < best_error:
            best, best_error = k, error
    return best


#: Retention at which a cell is at its end of life (as `lithium_inventory_cycling` stops).
END_OF_LIFE_RETENTION = 0.8
#: Fewest cycles a capacity knee is looked for in (`capacity_knee`).
KNEE_MIN_CYCLES = 6


def retention_summary(
    discharge_mAh: Sequence[float],
    cycle_indices: Sequence[int],
    *,
    end_of_life: float = END_OF_LIFE_RETENTION,
) -> dict[str, float | int | str]:
    """What a paper reports of a cycling run: the capacity knee and the first cycle below
    ``end_of_life`` retention, each a cycle number or `NONE` (explicitly, not NaN).

    Parameters
    ----------
    discharge_mAh
        Discharge capacity of each cycle, in order, mAh.
    cycle_indices
        The cycles' indices (the knee and the end of life are named by them).
    end_of_life
        Retention (of the largest of the first 3 cycles) that ends the cell's life.

    Returns
    -------
    dict
        ``end_of_life_retention``; ``end_of_life_cycle``, the first cycle below it, or
        `NONE` if none is; ``final_retention``; and, with `KNEE_MIN_CYCLES` cycles or more
        (fewer: the key is absent, as no knee was looked for), ``capacity_knee_cycle``, or
        `NONE` if capacity fades without a knee.
    """
    retention = capacity_retention(discharge_mAh)
    below = np.flatnonzero(retention < end_of_life)
    summary: dict[str, float | int | str] = {
        "end_of_life_retention": end_of_life,
        "end_of_life_cycle": int(cycle_indices[below[0]]) if below.size else NONE,
        "final_retention": float(retention[-1]),
    }
    if len(discharge_mAh) >= KNEE_MIN_CYCLES:
        knee = capacity_knee(discharge_mAh)
        summary["capacity_knee_cycle"] = int(cycle_indices[knee]) if knee is not None else NONE
    return summary


@dataclass(frozen=True)
class PolarisationTrend:
    """A cell's area-specific polarisation against its time under current: a straight line,
    ASR(t) = ASR_0·(1 + growth·t).

    Attributes
    ----------
    asr_ohm_cm2
        Fitted ASR_0, at the start of the time under current, Ω·cm².
    growth_per_h
        Relative growth of the ASR per hour under current (fraction/h).
    rise
        Fitted relative rise over the whole time under current (fraction).

    All NaN with fewer than two half cycles (a symmetric cell's) or cycles (a full cell's) to
    fit.
    """

    asr_ohm_cm2: float
    growth_per_h: float
    rise: float

    def as_dict(self) -> dict[str, float]:
        """As recorded: ``polarisation_asr_ohm_cm2``, ``polarisation_growth_per_h`` and
        ``polarisation_rise``."""
        return {
            "polarisation_asr_ohm_cm2": self.asr_ohm_cm2,
            "polarisation_growth_per_h": self.growth_per_h,
            "polarisation_rise": self.rise,
        }


def _fitted_trend(
    time_h: np.ndarray, asr_ohm_cm2: np.ndarray, total_h: float
) -> PolarisationTrend:
    """The straight line through ASR (Ω·cm²) against time under current (h), its rise over
    ``total_h``; NaN without two distinct times or with an ASR that is not finite and
    positive."""
    if (
        asr_ohm_cm2.size < 2
        or np.ptp(time_h) == 0
        or not np.all(np.isfinite(asr_ohm_cm2) & (asr_ohm_cm2 > 0))
    ):
        return PolarisationTrend(math.nan, math.nan, math.nan)
    slope, intercept = np.polyfit(time_h, asr_ohm_cm2, 1)
    growth = float(slope / intercept)
    return PolarisationTrend(float(intercept), growth, growth * total_h)


def _start_h(half_cycles: Sequence[HalfCycle]) -> np.ndarray:
    """Cumulative time under current at the start of each half cycle, h."""
    durations_h = np.array([half.duration_h for half in half_cycles])
    return np.cumsum(durations_h) - durations_h


def polarisation_trend(half_cycles: Sequence[HalfCycle], area_cm2: float) -> PolarisationTrend:
    """Fit the area-specific polarisation (|V| / |j|, Ω·cm²) of a symmetric cell's
    ``half_cycles`` against the cumulative time under current at the middle of each (h),
    whatever their currents: half cycles at different current densities (a CCD staircase's
    two per step) compare, an ohmic cell's stays flat as its current rises, contact loss
    rises with time.

    Parameters
    ----------
    half_cycles
        Plating/stripping half cycles in the order they ran.
    area_cm2
        Electrode area, cm².
    """
    durations_h = np.array([half.duration_h for half in half_cycles])
    asr = np.array([half.polarisation_asr_ohm_cm2(area_cm2) for half in half_cycles])
    return _fitted_trend(_start_h(half_cycles) + durations_h / 2, asr, float(durations_h.sum()))


#: Part of a cycle's common capacity, counted from the state its two half cycles share (where
#: the first ended and the second began), over which their voltages are compared: the middle,
#: clear of the polarisation's reversal at that state and of the open-circuit voltage's steep
#: ends.
HYSTERESIS_WINDOW = (0.25, 0.75)
#: Points of the capacity grid both half cycles' voltages are interpolated onto.
HYSTERESIS_GRID_POINTS = 64


def hysteresis_asr(first: HalfCycle, second: HalfCycle, area_cm2: float) -> tuple[float, float]:
    """A full cell's area-specific polarisation in one cycle, from the gap between its charge
    and discharge voltages at matched state of charge.

    The second half cycle starts from the state the first ended in, so both are put on one
    axis, the charge passed from that state (the first's traced backwards from its end, the
    second's forwards from its start). At matched charge the open-circuit voltage is the
    same, and the gap is the polarisation of both currents:
    V_charge − V_discharge = (|I_charge| + |I_discharge|)·R, so at equal currents
    ASR = R·area = (V_charge − V_discharge) / 2 / |j|. The voltages are compared over
    `HYSTERESIS_WINDOW` of the charge both passed. Unlike the mid-point overpotential
    (`CycleMetrics.overpotential_V`, each half cycle at half its own charge), the states
    match when the two passed different charges (a capacity limit, a discharge cut short by
    the anode's lithium), and the window averages the noise of many points. Charge lost to
    side reactions (1 − Coulombic efficiency) shifts the match by that fraction of the
    window's charge. The polarisation reads low where it has not built up: half cycles that
    end at a cut-off within a few of its relaxation times (the simulator's 60 s).

    Parameters
    ----------
    first, second
        A charge and a discharge (in either order) that ran one after the other.
    area_cm2
        Electrode area, cm².

    Returns
    -------
    (asr_ohm_cm2, time_h)
        The ASR over the window, Ω·cm², and the mean time of its matched points, h under
        current since the first's start; both NaN unless the two carried currents of
        opposite sign and passed some charge each.
    """
    if min(first.time_s.size, second.time_s.size) < 2:
        return math.nan, math.nan
    direction = float(np.sign(np.median(first.current_A)))
    if direction * float(np.sign(np.median(second.current_A))) >= 0:
        return math.nan, math.nan
    passed_first, passed_second = first.charge_passed_mAh, second.charge_passed_mAh
    common_mAh = min(passed_first[-1], passed_second[-1])
    if not common_mAh > 0:
        return math.nan, math.nan
    grid_mAh = common_mAh * np.linspace(*HYSTERESIS_WINDOW, HYSTERESIS_GRID_POINTS)
    to_end_mAh = (passed_first[-1] - passed_first)[::-1]  # rising, towards the first's start
    voltage_first = np.interp(grid_mAh, to_end_mAh, first.voltage_V[::-1])
    voltage_second = np.interp(grid_mAh, passed_second, second.voltage_V)
    charge_minus_discharge_V = direction * (voltage_first - voltage_second)
    resistance_ohm = charge_minus_discharge_V / (
        first.applied_current_A + second.applied_current_A
    )
    time_first_s = np.interp(grid_mAh, to_end_mAh, (first.time_s - first.time_s[0])[::-1])
    time_second_s = np.interp(grid_mAh, passed_second, second.time_s - second.time_s[0])
    mean_time_h = float(np.mean(time_first_s + time_second_s)) / 2 / HOUR_S
    return float(np.mean(resistance_ohm)) * area_cm2, mean_time_h + first.duration_h / 2


def hysteresis_trend(half_cycles: Sequence[HalfCycle], area_cm2: float) -> PolarisationTrend:
    """Fit a full cell's area-specific polarisation, each cycle's from its charge/discharge
    hysteresis (`hysteresis_asr`), against the cumulative time under current of its matched
    points (h): its voltage is mostly its open-circuit voltage, which the hysteresis at
    matched state of charge cancels.

    Parameters
    ----------
    half_cycles
        The half cycles in the order they ran; a cycle is two in a row of one cycle index with
        currents of opposite sign (charge and discharge, or plating and stripping). Cycles
        whose halves passed no charge are left out.
    area_cm2
        Electrode area, cm².
    """
    starts_h = _start_h(half_cycles)
    asr, time_h = [], []
    for k in range(len(half_cycles) - 1):
        first, second = half_cycles[k], half_cycles[k + 1]
        if first.cycle_index != second.cycle_index:
            continue
        value_ohm_cm2, at_h = hysteresis_asr(first, second, area_cm2)
        if math.isfinite(value_ohm_cm2):
            asr.append(value_ohm_cm2)
            time_h.append(starts_h[k] + at_h)
    total_h = float(sum(half.duration_h for half in half_cycles))
    return _fitted_trend(np.array(time_h), np.array(asr), total_h)


@dataclass(frozen=True)
class SymmetricCellFailure:
    """How a symmetric Li | SSE | Li cell failed, if it did, and where on its staircase.

    Attributes
    ----------
    failure
        The first half cycle's failure (`conventions.cycling.half_cycle_failure`):
        ``"short_circuit"`` (the instrument saw a short) or ``"voltage_collapse"`` (the
        polarisation collapsed within it), both a dendrite short; ``"blocked"`` (it ended at
        a cut-off or the compliance); else `CONTACT_LOSS` (the area-specific polarisation
        rose by more than the threshold, `polarisation_trend`); else None.
    critical_current_density_mA_cm2
        Current density of the step whose half cycle failed (not for contact loss), mA/cm².
    last_passed_mA_cm2
        Highest current density of the steps before it, which passed (0 if the first step
        failed; with no such failure, the highest the cell carried), mA/cm²: the critical
        current density lies between the two.
    failed_step_index
        Step (cycle index) of the failed half cycle.
    failed_half_cycle
        Its step name (``plating``/``stripping``).
    polarisation
        The area-specific polarisation's trend over the half cycles before the failure.
    """

    failure: str | None
    critical_current_density_mA_cm2: float | None
    last_passed_mA_cm2: float
    failed_step_index: int | None
    failed_half_cycle: str | None
    polarisation: PolarisationTrend

    def as_dict(self) -> dict[str, float | int | str]:
        """As recorded: what there is not (no failure, no failed step) is `NONE`,
        explicitly; the trend as `PolarisationTrend.as_dict` records it."""
        record = {
            "failure": self.failure,
            "critical_current_density_mA_cm2": self.critical_current_density_mA_cm2,
            "last_passed_mA_cm2": self.last_passed_mA_cm2,
            "failed_step_index": self.failed_step_index,
            "failed_half_cycle": self.failed_half_cycle,
            **self.polarisation.as_dict(),
        }
        return _recorded(record)


def _recorded(record: dict[str, float | int | str | None]) -> dict[str, float | int | str]:
    """``record`` as a summary records it: what there is not (None) is `NONE`, explicitly."""
    return {key: NONE if value is None else value for key, value in record.items()}


def classify_symmetric_failure(
    half_cycles: Sequence[HalfCycle],
    area_cm2: float,
    *,
    densities_mA_cm2: Sequence[float] | None = None,
    collapse_fraction: float = COLLAPSE_FRACTION,
    contact_loss_rise: float = CONTACT_LOSS_RISE,
    polarisation_is_voltage: bool = True,
) -> SymmetricCellFailure:
    """Find where and how plating/stripping half cycles failed: the first that shorted,
    collapsed or was blocked (as `plans.critical_current_density` stops there), else contact
    loss from the polarisation's trend over them.

    Parameters
    ----------
    half_cycles
        The half cycles in the order they ran; each step of a staircase is a cycle index.
    area_cm2
        Electrode area, cm².
    densities_mA_cm2
        The staircase's current density of each step (a CCD start document's
        ``technique.current_densities_mA_cm2``), mA/cm²; None: each half cycle's measured
        |I| / area.
    collapse_fraction
        Polarisation fall within a half cycle that counts as a collapse.
    contact_loss_rise
        Fitted rise of the area-specific polarisation that counts as contact loss (fraction).
    polarisation_is_voltage
        Whether |V| is the cell's polarisation (a symmetric cell, 0 V at rest:
        `polarisation_trend`). A full cell's voltage is mostly its open-circuit voltage: its
        polarisation is each step's plating/stripping hysteresis (`hysteresis_trend`).
    """

    def density(half: HalfCycle) -> float:
        if densities_mA_cm2 is None:
            return half.current_density_mA_cm2(area_cm2)
        return float(densities_mA_cm2[half.cycle_index])

    failed = _first_failure(
        half_cycles, collapse_fraction, (SHORT_CIRCUIT, VOLTAGE_COLLAPSE, BLOCKED)
    )
    passed = half_cycles[: failed[0]] if failed else half_cycles
    trend = (polarisation_trend if polarisation_is_voltage else hysteresis_trend)(passed, area_cm2)
    if failed is None:
        failure = CONTACT_LOSS if trend.rise > contact_loss_rise else None
        carried = max((density(half) for half in half_cycles), default=0.0)
        return SymmetricCellFailure(failure, None, carried, None, None, trend)
    k, failure = failed
    half = half_cycles[k]
    below = [density(h) for h in passed if h.cycle_index < half.cycle_index]
    return SymmetricCellFailure(
        failure, density(half), max(below, default=0.0), half.cycle_index, half.step, trend
    )


@dataclass(frozen=True)
class FullCellFailure:
    """How a full cell's cycling failed, if it did.

    Attributes
    ----------
    failure
        ``"short_circuit"`` or ``"voltage_collapse"`` for the first half cycle that shorted
        (`conventions.cycling.half_cycle_failure`; ending at a cut-off is how a full cell's
        half cycles end, no failure); else `CONTACT_LOSS` (the area-specific polarisation
        rose by more than the threshold, `hysteresis_trend`); else None.
    failed_cycle_index
        Cycle of the shorted half cycle.
    failed_half_cycle
        Its step name (``charge``/``discharge``).
    polarisation
        The area-specific polarisation's trend over the half cycles before the short.
    """

    failure: str | None
    failed_cycle_index: int | None
    failed_half_cycle: str | None
    polarisation: PolarisationTrend

    def as_dict(self) -> dict[str, float | int | str]:
        """As recorded: what there is not (no failure, no failed cycle) is `NONE`,
        explicitly; the trend as `PolarisationTrend.as_dict` records it."""
        record = {
            "failure": self.failure,
            "failed_cycle_index": self.failed_cycle_index,
            "failed_half_cycle": self.failed_half_cycle,
            **self.polarisation.as_dict(),
        }
        return _recorded(record)


def classify_full_cell_failure(
    half_cycles: Sequence[HalfCycle],
    area_cm2: float,
    *,
    collapse_fraction: float = COLLAPSE_FRACTION,
    contact_loss_rise: float = CONTACT_LOSS_RISE,
) -> FullCellFailure:
    """Find whether and how a full cell's charges and discharges failed: the first half cycle
    that shorted, else contact loss from the trend of its hysteresis polarisation.

    Parameters
    ----------
    half_cycles
        The half cycles in the order they ran.
    area_cm2
        Electrode area, cm².
    collapse_fraction
        Voltage fall within a half cycle that counts as a collapse (a short).
    contact_loss_rise
        Fitted rise of the area-specific polarisation that counts as contact loss (fraction).
    """
    failed = _first_failure(half_cycles, collapse_fraction, (SHORT_CIRCUIT, VOLTAGE_COLLAPSE))
    passed = half_cycles[: failed[0]] if failed else half_cycles
    trend = hysteresis_trend(passed, area_cm2)
    if failed is None:
        failure = CONTACT_LOSS if trend.rise > contact_loss_rise else None
        return FullCellFailure(failure, None, None, trend)
    k, failure = failed
    return FullCellFailure(failure, half_cycles[k].cycle_index, half_cycles[k].step, trend)


def _first_failure(
    half_cycles: Sequence[HalfCycle], collapse_fraction: float, counted: tuple[str, ...]
) -> tuple[int, str] | None:
    """(position, failure) of the first half cycle that failed (`half_cycle_failure`) by one
    of the ``counted`` failures."""
    for k, half in enumerate(half_cycles):
        failure = half_cycle_failure(half.termination_reason, half.voltage_V, collapse_fraction)
        if failure in counted:
            return k, failure
    return None
