"""Galvanostatic cycling: per-cycle capacity, efficiency, voltages and energy; retention and
its knee; the failure of a symmetric cell (dendrite short vs contact loss).

Input is what a ``half_cycle`` event holds (`plans.cycling`): the instrument's trace (time,
voltage, current; NaN-padded to the buffer length), its capacity and termination reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from conventions import data_keys
from conventions.cycling import COLLAPSE_FRACTION, voltage_collapsed
from conventions.pv_states import HalfCycleEnd

#: Seconds per hour.
HOUR_S = 3600.0
#: Polarisation growth per cycle above which slow growth counts as contact loss (fraction).
CONTACT_LOSS_GROWTH_PER_CYCLE = 0.01


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
    def mid_point_voltage_V(self) -> float:
        """Voltage at half the passed charge, V."""
        if self.time_s.size < 2:
            return float("nan")
        charge = np.concatenate(
            [[0.0], np.cumsum(np.abs(np.diff(self.time_s) * self.current_A[1:]))]
        )
        return float(np.interp(charge[-1] / 2, charge, self.voltage_V))

    @property
    def polarisation_V(self) -> float:
        """Median |V| over the half cycle (a symmetric cell's polarisation), V."""
        finite = np.abs(self.voltage_V[np.isfinite(self.voltage_V)])
        return float(np.median(finite)) if finite.size else float("nan")


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
) -> dict[str, float | int | bool]:
    """What a paper reports of a cycling run: the capacity knee and the first cycle below
    ``end_of_life`` retention, each with whether it was found (an explicit "none", not NaN).

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
        ``capacity_knee_found`` and ``capacity_knee_cycle`` (NaN if none; only with
        `KNEE_MIN_CYCLES` cycles or more), ``end_of_life_found`` and ``end_of_life_cycle``
        (first cycle below ``end_of_life``, NaN if none), ``final_retention``.
    """
    retention = capacity_retention(discharge_mAh)
    below = np.flatnonzero(retention < end_of_life)
    summary: dict[str, float | int | bool] = {
        "end_of_life_retention": end_of_life,
        "end_of_life_found": bool(below.size),
        "end_of_life_cycle": int(cycle_indices[below[0]]) if below.size else math.nan,
        "final_retention": float(retention[-1]),
    }
    if len(discharge_mAh) >= KNEE_MIN_CYCLES:
        knee = capacity_knee(discharge_mAh)
        summary["capacity_knee_found"] = knee is not None
        summary["capacity_knee_cycle"] = int(cycle_indices[knee]) if knee is not None else math.nan
    return summary


@dataclass(frozen=True)
class SymmetricCellFailure:
    """How a symmetric Li | SSE | Li cell failed, if it did.

    Attributes
    ----------
    failure
        ``"dendrite_short"`` (polarisation rose, then the voltage collapsed or the instrument
        saw a short), ``"contact_loss"`` (polarisation grew slowly at constant current, no
        collapse) or None.
    critical_current_density_mA_cm2
        Current density of the half cycle that shorted (dendrite short only), mA/cm².
    polarisation_growth_per_cycle
        Relative growth of the polarisation per cycle at constant current (fitted).
    failed_cycle_index
        Cycle of the short (dendrite short only).
    """

    failure: str | None
    critical_current_density_mA_cm2: float | None
    polarisation_growth_per_cycle: float
    failed_cycle_index: int | None

    def as_dict(self) -> dict:
        """As recorded: no failure is ``"none"``, explicitly."""
        return {**asdict(self), "failure": self.failure or "none"}


def classify_symmetric_failure(
    half_cycles: Sequence[HalfCycle],
    area_cm2: float,
    *,
    collapse_fraction: float = COLLAPSE_FRACTION,
    growth_threshold: float = CONTACT_LOSS_GROWTH_PER_CYCLE,
) -> SymmetricCellFailure:
    """Tell a dendrite short from contact loss in plating/stripping half cycles.

    A short: a half cycle the instrument ended with ``short_circuit``, or whose polarisation
    collapsed below ``collapse_fraction`` of its peak (`conventions.cycling.voltage_collapsed`).
    Contact loss: no short, and the polarisation at the most used current grows by more than
    ``growth_threshold`` per cycle.
    """
    growth = _polarisation_growth(half_cycles)
    for half in half_cycles:
        if half.termination_reason == HalfCycleEnd.SHORT_CIRCUIT or voltage_collapsed(
            half.voltage_V, collapse_fraction
        ):
            density = abs(float(np.nanmedian(half.current_A))) * 1e3 / area_cm2
            return SymmetricCellFailure("dendrite_short", density, growth, half.cycle_index)
    failure = "contact_loss" if growth > growth_threshold else None
    return SymmetricCellFailure(failure, None, growth, None)


def _polarisation_growth(half_cycles: Sequence[HalfCycle]) -> float:
    """Fitted relative polarisation growth per cycle at the most common current."""
    currents = np.array([round(abs(float(np.nanmedian(h.current_A))), 12) for h in half_cycles])
    if currents.size < 3:
        return 0.0
    values, counts = np.unique(currents, return_counts=True)
    usual = values[np.argmax(counts)]
    same = [h for h, c in zip(half_cycles, currents, strict=True) if c == usual]
    if len(same) < 3:
        return 0.0
    cycles = np.array([h.cycle_index for h in same], dtype=float)
    polarisation = np.array([h.polarisation_V for h in same])
    if np.ptp(cycles) == 0 or not np.all(polarisation > 0):
        return 0.0
    slope = np.polyfit(cycles, polarisation, 1)[0]
    return float(slope / polarisation[0])
