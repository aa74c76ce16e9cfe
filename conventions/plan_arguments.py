"""What each plan refuses from its arguments alone, before it reads or moves anything.

Each plan calls its check here first (`galvanostatic_cycles` for ``galvanostatic_cycles``,
and so on), and the queue's RE Manager calls the same check when an item is added
(`argument_refusal`), so an item the plan would refuse for its arguments is never queued. The
manager cannot import the plans: ophyd starts Channel Access when it is imported, before the
manager forks its worker. Hence this module, which imports no EPICS.

What depends on the station is checked by the plan when it starts, before anything moves: a
pressure beyond the press's rating, a current beyond the potentiostat's compliance for the
cell's capacity, a time limit derived from that capacity against the trace buffer, the load
cell's tare. The queue checks the config's limits of those
(`acq.queue_server.queued_plans.parameter_limits`).

Each check raises ``ValueError`` with one line naming the argument (`conventions.checks`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import checks
from .cycling import TRACE_BUFFER_POINTS
from .impedance import FREQUENCY_RANGE_HZ, MAX_SPECTRUM_POINTS, sweep_points

#: Bounds of a live-update interval, wall s: below the lower, events flood; above the upper,
#: a typo (``1e9``) would leave a technique unwatched for good.
POLL_INTERVAL_LIMITS_S = (0.01, 60.0)
#: Longest exposure a plan accepts, s (the detector's own limit is higher).
MAX_EXPOSURE_S = 60.0
#: Values of ``critical_current_density``'s ``mode``.
CCD_MODES = ("time", "capacity")
#: The amplitudes an impedance sweep accepts, V.
AMPLITUDE_LIMITS_V = (1e-4, 0.5)


# ---- rules shared by several plans and by the techniques' settings ----


def poll_interval(poll_interval_s: object) -> None:
    """A live-update interval within `POLL_INTERVAL_LIMITS_S`, wall s."""
    checks.within("poll_interval_s", poll_interval_s, *POLL_INTERVAL_LIMITS_S, "s")


def rate(c_rate: object, current_density_mA_cm2: object) -> None:
    """Exactly one of a C-rate (1/h) and a current density (mA/cm²), positive."""
    if (c_rate is None) == (current_density_mA_cm2 is None):
        raise ValueError("give exactly one of c_rate and current_density_mA_cm2")
    if c_rate is not None:
        checks.positive("c_rate", c_rate, "1/h")
    else:
        checks.positive("current_density_mA_cm2", current_density_mA_cm2, "mA/cm²")


def cutoff_window(upper_cutoff_V: object, lower_cutoff_V: object) -> None:
    """Finite voltage cut-offs, the lower below the upper, V."""
    upper = checks.finite("upper_cutoff_V", upper_cutoff_V, "V")
    lower = checks.finite("lower_cutoff_V", lower_cutoff_V, "V")
    if not lower < upper:
        raise ValueError(
            f"lower_cutoff_V ({lower_cutoff_V} V) must be below upper_cutoff_V "
            f"({upper_cutoff_V} V)"
        )


def trace_interval(max_duration_s: float, record_interval_s: float) -> None:
    """A half cycle's trace fits the potentiostat's buffer (both in experiment s, > 0)."""
    if max_duration_s / record_interval_s + 2 > TRACE_BUFFER_POINTS:
        raise ValueError(
            f"max_duration_s {max_duration_s:g} s at record_interval_s "
            f"{record_interval_s:g} s overflows the {TRACE_BUFFER_POINTS}-point trace "
            f"buffer; raise record_interval_s to at least "
            f"{max_duration_s / (TRACE_BUFFER_POINTS - 2):.3g} s"
        )


def half_cycle_limits(
    max_duration_s: object, max_capacity_mAh: object, record_interval_s: object
) -> None:
    """Optional limits of a half cycle (None: the plan chooses): a time limit > 0 s, a
    capacity limit ≥ 0 mAh, a trace interval ≥ 0 s (0: the plan chooses) that, with the time
    limit, fits the trace buffer."""
    duration = (
        None if max_duration_s is None else checks.positive("max_duration_s", max_duration_s, "s")
    )
    if max_capacity_mAh is not None:
        checks.non_negative("max_capacity_mAh", max_capacity_mAh, "mAh")
    if record_interval_s is not None:
        interval = checks.non_negative("record_interval_s", record_interval_s, "s")
        if interval > 0 and duration is not None:
            trace_interval(duration, interval)


def cycling(
    c_rate: object,
    current_density_mA_cm2: object,
    upper_cutoff_V: object,
    lower_cutoff_V: object,
    rest_s: object,
    max_duration_s: object,
    max_capacity_mAh: object,
    record_interval_s: object,
) -> None:
    """The galvanostatic limits every cycling plan takes."""
    rate(c_rate, current_density_mA_cm2)
    cutoff_window(upper_cutoff_V, lower_cutoff_V)
    checks.non_negative("rest_s", rest_s, "s")
    half_cycle_limits(max_duration_s, max_capacity_mAh, record_interval_s)


def impedance_sweep(
    start_frequency_Hz: object,
    stop_frequency_Hz: object,
    points_per_decade: object,
    amplitude_V: object,
) -> None:
    """A potentiostatic sweep the potentiostat can run: frequencies within its range and
    different, at most `MAX_SPECTRUM_POINTS` points, an amplitude within
    `AMPLITUDE_LIMITS_V`."""
    low, high = FREQUENCY_RANGE_HZ
    start = checks.within("start_frequency_Hz", start_frequency_Hz, low, high, "Hz")
    stop = checks.within("stop_frequency_Hz", stop_frequency_Hz, low, high, "Hz")
    if start == stop:
        raise ValueError("start_frequency_Hz and stop_frequency_Hz must differ")
    per_decade = checks.count("points_per_decade", points_per_decade)
    checks.within("amplitude_V", amplitude_V, *AMPLITUDE_LIMITS_V, "V")
    points = sweep_points(start, stop, per_decade)
    if points > MAX_SPECTRUM_POINTS:
        raise ValueError(
            f"{points} frequencies exceed the potentiostat's {MAX_SPECTRUM_POINTS}; use "
            f"fewer points per decade"
        )


def ct_settings(
    num_projections: object,
    start_deg: object,
    stop_deg: object,
    exposure_s: object,
    num_darks: object,
    num_flats: object,
) -> None:
    """A CT scan: at least 2 projections over a non-empty angular range (deg), an exposure
    up to `MAX_EXPOSURE_S`, no negative number of darks or flats."""
    checks.count("num_projections", num_projections, minimum=2)
    start = checks.finite("start_deg", start_deg, "deg")
    stop = checks.finite("stop_deg", stop_deg, "deg")
    if start == stop:
        raise ValueError("start_deg and stop_deg must differ")
    checks.positive_at_most("exposure_s", exposure_s, MAX_EXPOSURE_S, "s")
    checks.count("num_darks", num_darks, minimum=0)
    checks.count("num_flats", num_flats, minimum=0)


def pressures(pressures_MPa: Sequence[object]) -> None:
    """At least one stack pressure, each finite and ≥ 0 MPa (the press checks its rating)."""
    if isinstance(pressures_MPa, str) or not isinstance(pressures_MPa, Sequence):
        raise ValueError(f"pressures_MPa must be a list of pressures, got {pressures_MPa!r}")
    if not pressures_MPa:
        raise ValueError("at least one stack pressure is needed")
    for value in pressures_MPa:
        checks.non_negative("pressures_MPa", value, "MPa")


# ---- each plan's check, named as the plan; keyword arguments as the plan names them ----


def pressure_step(*, pressure_MPa: object) -> None:
    """`plans.pressure_step`."""
    checks.non_negative("pressure_MPa", pressure_MPa, "MPa")


def eis_sweep(
    *,
    start_frequency_Hz: object,
    stop_frequency_Hz: object,
    points_per_decade: object,
    amplitude_V: object,
) -> None:
    """`plans.eis_sweep`."""
    impedance_sweep(start_frequency_Hz, stop_frequency_Hz, points_per_decade, amplitude_V)


def ct_scan(
    *,
    num_projections: object,
    start_deg: object,
    stop_deg: object,
    exposure_s: object,
    num_darks: object,
    num_flats: object,
) -> None:
    """`plans.ct_scan`."""
    ct_settings(num_projections, start_deg, stop_deg, exposure_s, num_darks, num_flats)


def galvanostatic_cycles(
    *,
    cycles: object,
    c_rate: object,
    current_density_mA_cm2: object,
    upper_cutoff_V: object,
    lower_cutoff_V: object,
    rest_s: object,
    max_duration_s: object,
    max_capacity_mAh: object,
    record_interval_s: object,
    poll_interval_s: object,
) -> None:
    """`plans.galvanostatic_cycles`."""
    checks.count("cycles", cycles)
    poll_interval(poll_interval_s)
    cycling(
        c_rate,
        current_density_mA_cm2,
        upper_cutoff_V,
        lower_cutoff_V,
        rest_s,
        max_duration_s,
        max_capacity_mAh,
        record_interval_s,
    )


def critical_current_density(
    *,
    mode: object,
    start_mA_cm2: object,
    step_mA_cm2: object,
    max_mA_cm2: object,
    half_cycle_h: object,
    capacity_mAh_cm2: object,
    cutoff_V: object,
    collapse_fraction: object,
    poll_interval_s: object,
) -> None:
    """`plans.critical_current_density`."""
    if mode not in CCD_MODES:
        raise ValueError(f"mode must be 'time' or 'capacity', got {mode!r}")
    start = checks.positive("start_mA_cm2", start_mA_cm2, "mA/cm²")
    checks.positive("step_mA_cm2", step_mA_cm2, "mA/cm²")
    top = checks.positive("max_mA_cm2", max_mA_cm2, "mA/cm²")
    if top < start:
        raise ValueError(f"max_mA_cm2 ({top}) is below start_mA_cm2 ({start})")
    checks.positive("half_cycle_h", half_cycle_h, "h")
    checks.positive("capacity_mAh_cm2", capacity_mAh_cm2, "mAh/cm²")
    checks.positive("cutoff_V", cutoff_V, "V")
    fraction = checks.finite("collapse_fraction", collapse_fraction)
    if not 0 < fraction < 1:
        raise ValueError(f"collapse_fraction must be between 0 and 1, got {collapse_fraction!r}")
    poll_interval(poll_interval_s)


def lithium_inventory_cycling(
    *,
    c_rate: object,
    retention: object,
    max_cycles: object,
    reference_cycles: object,
    upper_cutoff_V: object,
    lower_cutoff_V: object,
    rest_s: object,
    record_interval_s: object,
    poll_interval_s: object,
) -> None:
    """`plans.lithium_inventory_cycling`."""
    checks.within("retention", retention, 0.0, 1.0)
    most = checks.count("max_cycles", max_cycles)
    if checks.count("reference_cycles", reference_cycles) >= most:
        raise ValueError("reference_cycles must be fewer than max_cycles")
    poll_interval(poll_interval_s)
    cycling(c_rate, None, upper_cutoff_V, lower_cutoff_V, rest_s, None, None, record_interval_s)


def pressure_series(
    *,
    pressures_MPa: Sequence[object],
    eis_start_frequency_Hz: object,
    eis_stop_frequency_Hz: object,
    eis_points_per_decade: object,
    eis_amplitude_V: object,
    ct_num_projections: object,
    ct_start_deg: object,
    ct_stop_deg: object,
    ct_exposure_s: object,
    ct_num_darks: object,
    ct_num_flats: object,
    cycles: object,
    c_rate: object,
    upper_cutoff_V: object,
    lower_cutoff_V: object,
    rest_s: object,
    record_interval_s: object,
    poll_interval_s: object,
) -> None:
    """`plans.pressure_series`: CT and cycling are checked only when they are done
    (``ct_num_projections`` and ``cycles`` 0 skip them)."""
    pressures(pressures_MPa)
    poll_interval(poll_interval_s)
    impedance_sweep(
        eis_start_frequency_Hz, eis_stop_frequency_Hz, eis_points_per_decade, eis_amplitude_V
    )
    if checks.count("ct_num_projections", ct_num_projections, minimum=0):
        ct_settings(
            ct_num_projections,
            ct_start_deg,
            ct_stop_deg,
            ct_exposure_s,
            ct_num_darks,
            ct_num_flats,
        )
    if checks.count("cycles", cycles, minimum=0):
        cycling(
            c_rate, None, upper_cutoff_V, lower_cutoff_V, rest_s, None, None, record_interval_s
        )
    else:
        checks.non_negative("rest_s", rest_s, "s")


#: Each plan's check, by the plan's name.
PLAN_CHECKS: dict[str, Callable[..., None]] = {
    check.__name__: check
    for check in (
        pressure_step,
        eis_sweep,
        ct_scan,
        galvanostatic_cycles,
        critical_current_density,
        lithium_inventory_cycling,
        pressure_series,
    )
}


def argument_refusal(plan_name: str, arguments: Mapping[str, Any]) -> str:
    """The one line refusing ``arguments`` of the plan ``plan_name`` (``""`` if its check
    passes, or it has none).

    Parameters
    ----------
    plan_name
        The plan's name, as in `PLAN_CHECKS`.
    arguments
        Every argument of the plan by its parameter's name, defaults included.
    """
    check = PLAN_CHECKS.get(plan_name)
    if check is None:
        return ""
    names = inspect.signature(check).parameters
    try:
        check(**{name: arguments[name] for name in names})
    except (ValueError, TypeError) as error:
        return str(error)
    return ""
