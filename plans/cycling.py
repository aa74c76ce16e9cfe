"""Galvanostatic plans: cycling, critical current density, lithium-inventory cycling.

Each half cycle runs on the instrument to its first limit (cut-off voltage, time, capacity).
While it runs, the live voltage, current and charge stream as events in ``trace``; when it
ends, one event in ``half_cycle`` holds the instrument's authoritative trace (time, voltage,
current waveforms, NaN-padded to the buffer length), the capacity and the termination reason.
Every plan switches the cell off however it ends. Given the ``press``, every event records the
stack pressure and the run is held at the pressure the feedback holds (`plans.pressure_hold`).
A short circuit ends cycling at once, the cell off, the run closed ``fail`` with the reason
(`CellShorted`); for `critical_current_density` it is the measured outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import MsgGenerator, short_uid
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.utils.errors import LimitError

from conventions import checks, data_keys, plan_arguments
from conventions.cycling import COLLAPSE_FRACTION, TRACE_BUFFER_POINTS, half_cycle_failure
from conventions.pv_states import HalfCycleEnd, Technique, TechniqueState
from devices.potentiostat import Potentiostat
from devices.press import PressureCell
from devices.station_clock import StationClock

from .metadata import checkpointed_run, plan_metadata
from .pressure_hold import describe_suspenders, held_at, hold_target, stack_readers
from .safety import with_cell_off

#: Spare points left in the trace buffer when the record interval is chosen automatically.
TRACE_MARGIN_POINTS = 96
#: Default time limit of a half cycle, in units of its nominal duration (capacity / current).
DEFAULT_DURATION_FACTOR = 1.5
#: Wall seconds between live trace events.
DEFAULT_POLL_INTERVAL_S = 0.2


class CellShorted(RuntimeError):
    """The potentiostat ended a half cycle on a short circuit: cycling stops."""


class HalfCycleLabel(Device):
    """Soft signals that label trace and half-cycle events: cycle number and step."""

    index = Cpt(Signal, value=0, kind="hinted")
    step = Cpt(Signal, value="", kind="normal")


@dataclass(frozen=True)
class HalfCycleSettings:
    """Limits of one galvanostatic half cycle.

    Parameters
    ----------
    current_A
        Applied current, A (+ charge / plating, − discharge / stripping).
    upper_cutoff_V, lower_cutoff_V
        Voltage cut-offs, V.
    max_duration_s
        Time limit, experiment seconds.
    max_capacity_mAh
        Capacity limit, mAh (0: none).
    record_interval_s
        Interval between recorded trace points, experiment seconds.
    """

    current_A: float
    upper_cutoff_V: float
    lower_cutoff_V: float
    max_duration_s: float
    max_capacity_mAh: float = 0.0
    record_interval_s: float = 0.0

    def __post_init__(self) -> None:
        checks.finite("current_A", self.current_A, "A")
        if self.current_A == 0:
            raise ValueError("current_A must not be 0 for a galvanostatic half cycle")
        plan_arguments.cutoff_window(self.upper_cutoff_V, self.lower_cutoff_V)
        plan_arguments.half_cycle_limits(
            self.max_duration_s, self.max_capacity_mAh, self.record_interval_s
        )
        if self.record_interval_s == 0:
            object.__setattr__(
                self,
                "record_interval_s",
                self.max_duration_s / (TRACE_BUFFER_POINTS - TRACE_MARGIN_POINTS),
            )

    def reversed(self) -> HalfCycleSettings:
        """The same limits at the opposite current."""
        return replace(self, current_A=-self.current_A)


def check_half_cycle(
    potentiostat: Potentiostat,
    settings: HalfCycleSettings,
    *,
    current: str,
    cutoffs: tuple[str, str] = ("upper_cutoff_V", "lower_cutoff_V"),
) -> None:
    """Raise (before anything is energised) if the instrument would refuse ``settings``,
    naming the plan's parameter the value came from, in its unit.

    Parameters
    ----------
    current
        Where the current comes from, as the user gave it (``"c_rate = 2 1/h"``).
    cutoffs
        What the plan calls the upper and lower cut-off.

    Raises
    ------
    ophyd.utils.LimitError
        For a current or cut-off beyond the potentiostat's compliance.
    """
    gal = potentiostat.galvanostatic
    upper, lower = cutoffs
    for signal, value, given, unit, scale in (
        (gal.current_A, settings.current_A, current, "mA", 1e3),
        (gal.upper_cutoff_V, settings.upper_cutoff_V, upper, "V", 1.0),
        (gal.lower_cutoff_V, settings.lower_cutoff_V, lower, "V", 1.0),
    ):
        try:
            signal.check_value(value)
        except LimitError:
            low, high = (scale * limit for limit in signal.limits)
            raise LimitError(
                f"{given} is {scale * value:.4g} {unit}, beyond the potentiostat's compliance "
                f"[{low:g}, {high:g}] {unit}"
            ) from None


#: What each cell type's own plans are, for a refusal to point at.
PLANS_FOR_CELL = {
    "full": "galvanostatic_cycles or lithium_inventory_cycling",
    "symmetric": "critical_current_density, or galvanostatic_cycles with current_density_mA_cm2",
}


def require_cell_type(
    potentiostat: Potentiostat, plan_name: str, cell_type: str, why: str
) -> MsgGenerator[None]:
    """Refuse a plan that makes no sense for the potentiostat's cell (read from its
    ``cell_type``, the station config's ``cell.cell_type``).

    Raises
    ------
    ValueError
        Naming the plan, why it needs a ``cell_type`` cell, and the plans the cell has.
    """
    actual = yield from bps.rd(potentiostat.cell_type)
    if actual != cell_type:
        raise ValueError(
            f"{plan_name} {why}: it needs a {cell_type} cell, and this station's is "
            f"{actual} (cell.cell_type); for a {actual} cell use {PLANS_FOR_CELL[actual]}"
        )


def current_from_rate(
    potentiostat: Potentiostat, c_rate: float | None, current_density_mA_cm2: float | None
) -> MsgGenerator[tuple[float, str]]:
    """Current of a C-rate or a current density for the potentiostat's cell, A (reads the
    cell's nominal capacity or area from the potentiostat), and how it was given, in words
    (``"c_rate = 2 1/h for the cell's 1.57 mAh"``)."""
    plan_arguments.rate(c_rate, current_density_mA_cm2)
    if c_rate is not None:
        if (yield from bps.rd(potentiostat.cell_type)) == "symmetric":
            raise ValueError(
                f"c_rate = {c_rate:g} 1/h needs a cathode's capacity, and a symmetric cell has "
                f"none: give current_density_mA_cm2 instead"
            )
        capacity = yield from bps.rd(potentiostat.nominal_capacity_mAh)
        checks.positive("the cell's nominal_capacity_mAh", capacity, "mAh")
        return (
            c_rate * capacity * 1e-3,
            f"c_rate = {c_rate:g} 1/h for the cell's {capacity:.4g} mAh",
        )
    area = yield from bps.rd(potentiostat.electrode_area_cm2)
    checks.positive("the cell's electrode_area_cm2", area, "cm²")
    given = f"current_density_mA_cm2 = {current_density_mA_cm2:g} mA/cm² at {area:.4g} cm²"
    return current_density_mA_cm2 * area * 1e-3, given


def run_half_cycle(
    potentiostat: Potentiostat,
    settings: HalfCycleSettings,
    label: HalfCycleLabel,
    *,
    cycle_index: int,
    step: str,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    detectors: Sequence[Device] = (),
) -> MsgGenerator[dict]:
    """Run one half cycle, streaming ``trace`` events, then one ``half_cycle`` event (no run).

    ``detectors`` (e.g. the press) are read in every event of both streams.

    Returns
    -------
    dict
        ``capacity_mAh``, ``termination_reason`` and the trace ``voltage_V`` (valid points).
    """
    gal = potentiostat.galvanostatic
    # A pause (Ctrl-C) switches the cell off; `RE.resume()` runs the half cycle again from here.
    yield from bps.checkpoint()
    yield from bps.mv(
        gal.current_A,
        settings.current_A,
        gal.upper_cutoff_V,
        settings.upper_cutoff_V,
        gal.lower_cutoff_V,
        settings.lower_cutoff_V,
        gal.max_duration_s,
        settings.max_duration_s,
        gal.max_capacity_mAh,
        settings.max_capacity_mAh,
        gal.record_interval_s,
        settings.record_interval_s,
        label.index,
        cycle_index,
        label.step,
        step,
    )
    group = short_uid("half-cycle")
    yield from bps.trigger(gal, group=group)
    live = [
        potentiostat.technique_time_s,
        potentiostat.voltage_V,
        potentiostat.current_A,
        potentiostat.charge_mAh,
        label,
        *detectors,
    ]
    # A live event each poll interval until the instrument reports the technique ended:
    # waiting on the group returns as soon as it does, and a technique that fails raises
    # here. After a pause the RunEngine re-triggers from the checkpoint into the same group.
    while True:
        yield from bps.trigger_and_read(live, name=data_keys.TRACE)
        yield from bps.wait(group, timeout=poll_interval_s, error_on_timeout=False)
        if (yield from bps.rd(potentiostat.state)) != TechniqueState.RUNNING:
            break
    yield from bps.wait(group)
    # Read, not trigger_and_read: triggering the technique again would run another half cycle.
    yield from bps.create(data_keys.HALF_CYCLE)
    for readable in (gal, label, *detectors):
        yield from bps.read(readable)
    yield from bps.save()
    n = int((yield from bps.rd(gal.num_points)))
    return {
        "capacity_mAh": float((yield from bps.rd(gal.capacity_mAh))),
        "termination_reason": (yield from bps.rd(gal.termination_reason)),
        "voltage_V": np.asarray((yield from bps.rd(gal.voltage_V)))[:n],
    }


def rest(potentiostat: Potentiostat, duration_s: float) -> MsgGenerator[None]:
    """Open circuit for ``duration_s`` experiment seconds (no event)."""
    if duration_s > 0:
        yield from bps.checkpoint()
        yield from bps.mv(potentiostat.rest.duration_s, duration_s)
        yield from bps.trigger(potentiostat.rest, wait=True)


def cycle(
    potentiostat: Potentiostat,
    charge: HalfCycleSettings,
    label: HalfCycleLabel,
    *,
    cycle_index: int,
    rest_s: float = 0.0,
    charge_first: bool = True,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    detectors: Sequence[Device] = (),
) -> MsgGenerator[dict]:
    """One charge and one discharge (in either order), with a rest after each (no run).

    Returns
    -------
    dict
        The `run_half_cycle` results under ``"charge"`` and ``"discharge"``.

    Raises
    ------
    CellShorted
        As soon as a half cycle ends on a short circuit (no rest, no further half cycle).
    """
    order = (("charge", charge), ("discharge", charge.reversed()))
    results = {}
    for step, settings in order if charge_first else order[::-1]:
        results[step] = yield from run_half_cycle(
            potentiostat,
            settings,
            label,
            cycle_index=cycle_index,
            step=step,
            poll_interval_s=poll_interval_s,
            detectors=detectors,
        )
        if results[step]["termination_reason"] == HalfCycleEnd.SHORT_CIRCUIT:
            raise CellShorted(
                f"{potentiostat.name}: short circuit in cycle {cycle_index} ({step}); "
                f"cycling stopped, cell off"
            )
        yield from rest(potentiostat, rest_s)
    return results


def half_cycle_settings(
    potentiostat: Potentiostat,
    c_rate: float | None,
    current_density_mA_cm2: float | None,
    upper_cutoff_V: float,
    lower_cutoff_V: float,
    max_duration_s: float | None,
    max_capacity_mAh: float | None,
    record_interval_s: float | None,
) -> MsgGenerator[HalfCycleSettings]:
    """The checked limits of a charge at a C-rate or current density (reads the cell's
    characteristics from the potentiostat; the time limit defaults to
    `DEFAULT_DURATION_FACTOR` × its nominal duration)."""
    current, given = yield from current_from_rate(potentiostat, c_rate, current_density_mA_cm2)
    if max_duration_s is None:
        nominal_h = (yield from bps.rd(potentiostat.nominal_capacity_mAh)) * 1e-3 / current
        max_duration_s = DEFAULT_DURATION_FACTOR * 3600.0 * nominal_h
    settings = HalfCycleSettings(
        current,
        upper_cutoff_V,
        lower_cutoff_V,
        max_duration_s,
        max_capacity_mAh or 0.0,
        record_interval_s or 0.0,
    )
    check_half_cycle(potentiostat, settings, current=given)
    return settings


def galvanostatic_cycles(
    potentiostat: Potentiostat,
    cycles: int = 1,
    *,
    press: PressureCell | None = None,
    c_rate: float | None = None,
    current_density_mA_cm2: float | None = None,
    upper_cutoff_V: float = 3.68,
    lower_cutoff_V: float = 2.5,
    rest_s: float = 0.0,
    max_duration_s: float | None = None,
    max_capacity_mAh: float | None = None,
    record_interval_s: float | None = None,
    charge_first: bool = True,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    detectors: Sequence[Device] = (),
    clock: StationClock | None = None,
    md: dict | None = None,
) -> MsgGenerator[str]:
    """Charge/discharge cycles at a C-rate or a current density.

    Parameters
    ----------
    potentiostat
        The potentiostat channel; its cell characteristics (nominal capacity, electrode area)
        turn ``c_rate`` or ``current_density_mA_cm2`` into a current.
    cycles
        Number of charge + discharge cycles.
    press
        The stack's press: read in every event, and the run held at the pressure its
        feedback holds (`plans.pressure_hold`).
    c_rate, current_density_mA_cm2
        Exactly one: the current as a C-rate (1/h) or as mA/cm².
    upper_cutoff_V, lower_cutoff_V
        Voltage cut-offs, V (default: NCM vs In-Li, 4.3 and 3.1 V vs Li − 0.62 V).
    rest_s
        Open-circuit rest after each half cycle, experiment seconds.
    max_duration_s
        Time limit per half cycle, experiment seconds (default 1.5 × capacity / current).
    max_capacity_mAh
        Capacity limit per half cycle, mAh (default none).
    record_interval_s
        Trace sampling interval, experiment seconds (default: the time limit over the
        instrument's buffer).
    charge_first
        Start with the charge (default) or the discharge.
    poll_interval_s
        Wall seconds between live ``trace`` events.
    detectors
        Also read in every ``trace`` and ``half_cycle`` event.
    clock
        The station's experiment clock, read in every event (``experiment_time_s``).
    md
        Extra start-document metadata.

    Returns
    -------
    str
        The run's uid.

    Raises
    ------
    CellShorted
        When a half cycle ends on a short circuit (the run closes ``fail``).
    """
    plan_arguments.galvanostatic_cycles(
        cycles=cycles,
        c_rate=c_rate,
        current_density_mA_cm2=current_density_mA_cm2,
        upper_cutoff_V=upper_cutoff_V,
        lower_cutoff_V=lower_cutoff_V,
        rest_s=rest_s,
        max_duration_s=max_duration_s,
        max_capacity_mAh=max_capacity_mAh,
        record_interval_s=record_interval_s,
        poll_interval_s=poll_interval_s,
    )
    settings = yield from half_cycle_settings(
        potentiostat,
        c_rate,
        current_density_mA_cm2,
        upper_cutoff_V,
        lower_cutoff_V,
        max_duration_s,
        max_capacity_mAh,
        record_interval_s,
    )
    readers = stack_readers(press, detectors, clock)
    target_MPa = (yield from hold_target(press)) if press is not None else None
    label = HalfCycleLabel(name=data_keys.CYCLE_LABEL)
    arguments = {
        "potentiostat": potentiostat,
        "press": press,
        "cycles": cycles,
        "c_rate": c_rate,
        "current_density_mA_cm2": current_density_mA_cm2,
        "upper_cutoff_V": upper_cutoff_V,
        "lower_cutoff_V": lower_cutoff_V,
        "rest_s": rest_s,
        "max_duration_s": max_duration_s,
        "max_capacity_mAh": max_capacity_mAh,
        "record_interval_s": record_interval_s,
        "charge_first": charge_first,
        "detectors": list(detectors),
        "clock": clock,
    }
    metadata = plan_metadata(
        "galvanostatic_cycles",
        arguments,
        md,
        detectors=[potentiostat, *readers],
        dimensions=[([data_keys.LIVE_TIME], data_keys.TRACE)],
        technique={"name": Technique.CP, "cycles": cycles, "rest_s": rest_s, **asdict(settings)},
        suspenders=describe_suspenders(press, target_MPa),
    )

    @checkpointed_run(metadata)
    @held_at(press, target_MPa, clock)
    def inner() -> MsgGenerator[None]:
        for index in range(cycles):
            yield from cycle(
                potentiostat,
                settings,
                label,
                cycle_index=index,
                rest_s=rest_s,
                charge_first=charge_first,
                poll_interval_s=poll_interval_s,
                detectors=readers,
            )

    return (yield from with_cell_off(inner(), potentiostat))


def critical_current_density(
    potentiostat: Potentiostat,
    *,
    press: PressureCell | None = None,
    mode: str = "time",
    start_mA_cm2: float = 0.2,
    step_mA_cm2: float = 0.2,
    max_mA_cm2: float = 10.0,
    half_cycle_h: float = 1.0,
    capacity_mAh_cm2: float = 0.5,
    cutoff_V: float = 5.0,
    collapse_fraction: float = COLLAPSE_FRACTION,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    clock: StationClock | None = None,
    md: dict | None = None,
) -> MsgGenerator[dict]:
    """Plating/stripping of a symmetric Li | SSE | Li cell at rising current density.

    Stops at the first failure: the instrument reports a short circuit, or the polarisation
    collapses within a half cycle (below ``collapse_fraction`` of its peak).

    Parameters
    ----------
    potentiostat
        The potentiostat channel (its ``electrode_area_cm2`` converts densities to currents).
    press
        As in `galvanostatic_cycles`.
    mode
        ``"time"``: each half cycle lasts ``half_cycle_h``; ``"capacity"``: each passes
        ``capacity_mAh_cm2``.
    start_mA_cm2, step_mA_cm2, max_mA_cm2
        Current-density staircase, mA/cm².
    half_cycle_h
        Half-cycle duration in time mode, h.
    capacity_mAh_cm2
        Areal capacity per half cycle in capacity mode, mAh/cm².
    cutoff_V
        Symmetric voltage limit ±cutoff_V, V.
    collapse_fraction
        Voltage collapse threshold (fraction of the half cycle's peak polarisation).
    clock
        As in `galvanostatic_cycles`.
    md
        Extra start-document metadata.

    Returns
    -------
    dict
        ``critical_current_density_mA_cm2`` (None if no failure up to ``max_mA_cm2``),
        ``failure`` (``"short_circuit"``, ``"voltage_collapse"``, ``"blocked"``: a half cycle
        ended at ±cutoff_V or the compliance; or None) and ``uid``.
    """
    plan_arguments.critical_current_density(
        mode=mode,
        start_mA_cm2=start_mA_cm2,
        step_mA_cm2=step_mA_cm2,
        max_mA_cm2=max_mA_cm2,
        half_cycle_h=half_cycle_h,
        capacity_mAh_cm2=capacity_mAh_cm2,
        cutoff_V=cutoff_V,
        collapse_fraction=collapse_fraction,
        poll_interval_s=poll_interval_s,
    )
    yield from require_cell_type(
        potentiostat,
        "critical_current_density",
        "symmetric",
        "plates and strips lithium through the electrolyte",
    )
    start, step, top = float(start_mA_cm2), float(step_mA_cm2), float(max_mA_cm2)
    # Rounded to 12 significant digits: 0.2 + 6 × 0.2 is 1.4, not 1.4000000000000001.
    densities = [
        float(f"{start + k * step:.12g}")
        for k in range(math.floor((top - start) / step + 1e-9) + 1)
    ]
    area = yield from bps.rd(potentiostat.electrode_area_cm2)
    steps = []
    for density in densities:
        current, _ = yield from current_from_rate(potentiostat, None, density)
        duration = half_cycle_h * 3600.0 if mode == "time" else capacity_mAh_cm2 / density * 3600.0
        capacity = 0.0 if mode == "time" else capacity_mAh_cm2 * area
        settings = HalfCycleSettings(current, cutoff_V, -cutoff_V, duration, capacity * (1 + 1e-6))
        check_half_cycle(
            potentiostat,
            settings,
            current=(
                f"max_mA_cm2 = {top:g} mA/cm² (its step at {density:g} mA/cm², at {area:.4g} cm²)"
            ),
            cutoffs=("cutoff_V", "-cutoff_V"),
        )
        steps.append((density, settings))
    readers = stack_readers(press, (), clock)
    target_MPa = (yield from hold_target(press)) if press is not None else None
    label = HalfCycleLabel(name=data_keys.CYCLE_LABEL)
    arguments = {
        "potentiostat": potentiostat,
        "press": press,
        "mode": mode,
        "start_mA_cm2": start,
        "step_mA_cm2": step,
        "max_mA_cm2": top,
        "half_cycle_h": half_cycle_h,
        "capacity_mAh_cm2": capacity_mAh_cm2,
        "cutoff_V": cutoff_V,
        "collapse_fraction": collapse_fraction,
    }
    metadata = plan_metadata(
        "critical_current_density",
        {**arguments, "clock": clock},
        md,
        detectors=[potentiostat, *readers],
        dimensions=[([data_keys.LIVE_TIME], data_keys.TRACE)],
        technique={
            "name": "CCD",
            **arguments,
            "potentiostat": potentiostat.name,
            "press": press.name if press is not None else None,
            "current_densities_mA_cm2": densities,
        },
        suspenders=describe_suspenders(press, target_MPa),
    )
    outcome: dict[str, float | str | None] = {
        "critical_current_density_mA_cm2": None,
        "failure": None,
    }

    @checkpointed_run(metadata)
    @held_at(press, target_MPa, clock)
    def inner() -> MsgGenerator[None]:
        for index, (density, settings) in enumerate(steps):
            for step_name, half in (("plating", settings), ("stripping", settings.reversed())):
                result = yield from run_half_cycle(
                    potentiostat,
                    half,
                    label,
                    cycle_index=index,
                    step=step_name,
                    poll_interval_s=poll_interval_s,
                    detectors=readers,
                )
                # A short, a collapse, or a half cycle that could not go on within ±cutoff_V
                # (or the instrument's compliance): a blocked interface is a failure too.
                failure = half_cycle_failure(
                    result["termination_reason"], result["voltage_V"], collapse_fraction
                )
                if failure:
                    outcome.update(critical_current_density_mA_cm2=density, failure=failure)
                    return

    outcome["uid"] = yield from with_cell_off(inner(), potentiostat)
    return outcome


def lithium_inventory_cycling(
    potentiostat: Potentiostat,
    *,
    press: PressureCell | None = None,
    c_rate: float = 0.1,
    retention: float = 0.8,
    max_cycles: int = 500,
    reference_cycles: int = 3,
    upper_cutoff_V: float = 3.68,
    lower_cutoff_V: float = 2.5,
    rest_s: float = 0.0,
    record_interval_s: float | None = None,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    clock: StationClock | None = None,
    md: dict | None = None,
) -> MsgGenerator[dict]:
    """Cycle a limited-lithium cell until its capacity falls below a retention threshold.

    Parameters
    ----------
    press
        As in `galvanostatic_cycles`.
    c_rate
        Charge and discharge rate, 1/h.
    retention
        Stop once a discharge capacity is below this fraction of the reference (0–1).
    max_cycles
        Stop after this many cycles in any case.
    reference_cycles
        The reference capacity is the largest discharge capacity of the first cycles.
    upper_cutoff_V, lower_cutoff_V, rest_s, record_interval_s, poll_interval_s, clock
        As in `galvanostatic_cycles`.
    md
        Extra start-document metadata.

    Returns
    -------
    dict
        ``cycles`` run, ``end_of_life_cycle`` (first cycle below the threshold, or None),
        ``reference_capacity_mAh`` and ``uid``.

    Raises
    ------
    CellShorted
        When a half cycle ends on a short circuit (the run closes ``fail``).
    """
    plan_arguments.lithium_inventory_cycling(
        c_rate=c_rate,
        retention=retention,
        max_cycles=max_cycles,
        reference_cycles=reference_cycles,
        upper_cutoff_V=upper_cutoff_V,
        lower_cutoff_V=lower_cutoff_V,
        rest_s=rest_s,
        record_interval_s=record_interval_s,
        poll_interval_s=poll_interval_s,
    )
    yield from require_cell_type(
        potentiostat,
        "lithium_inventory_cycling",
        "full",
        "cycles a cathode against a limited lithium anode until its capacity fades",
    )
    settings = yield from half_cycle_settings(
        potentiostat, c_rate, None, upper_cutoff_V, lower_cutoff_V, None, None, record_interval_s
    )
    readers = stack_readers(press, (), clock)
    target_MPa = (yield from hold_target(press)) if press is not None else None
    label = HalfCycleLabel(name=data_keys.CYCLE_LABEL)
    arguments = {
        "potentiostat": potentiostat,
        "press": press,
        "c_rate": c_rate,
        "retention": retention,
        "max_cycles": max_cycles,
        "reference_cycles": reference_cycles,
        "upper_cutoff_V": upper_cutoff_V,
        "lower_cutoff_V": lower_cutoff_V,
        "rest_s": rest_s,
        "record_interval_s": record_interval_s,
        "clock": clock,
    }
    metadata = plan_metadata(
        "lithium_inventory_cycling",
        arguments,
        md,
        detectors=[potentiostat, *readers],
        dimensions=[([data_keys.LIVE_TIME], data_keys.TRACE)],
        technique={"name": Technique.CP, "retention": retention, **asdict(settings)},
        suspenders=describe_suspenders(press, target_MPa),
    )
    outcome = {"cycles": 0, "end_of_life_cycle": None, "reference_capacity_mAh": None}

    @checkpointed_run(metadata)
    @held_at(press, target_MPa, clock)
    def inner() -> MsgGenerator[None]:
        capacities = []
        for index in range(max_cycles):
            result = yield from cycle(
                potentiostat,
                settings,
                label,
                cycle_index=index,
                rest_s=rest_s,
                poll_interval_s=poll_interval_s,
                detectors=readers,
            )
            capacities.append(result["discharge"]["capacity_mAh"])
            outcome["cycles"] = index + 1
            if index + 1 < reference_cycles:
                continue
            reference = max(capacities[:reference_cycles])
            outcome["reference_capacity_mAh"] = reference
            if capacities[-1] < retention * reference:
                outcome["end_of_life_cycle"] = index
                return

    outcome["uid"] = yield from with_cell_off(inner(), potentiostat)
    return outcome
