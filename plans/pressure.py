"""Stack-pressure plans."""

from __future__ import annotations

from collections.abc import Iterable

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from conventions import data_keys, plan_arguments
from devices.press import PressureCell
from devices.station_clock import StationClock

from .experiment_time import clocked
from .metadata import checkpointed_run, plan_metadata


def check_pressures(press: PressureCell, pressures_MPa: Iterable[float]) -> list[float]:
    """Every pressure as a float, each accepted by the press (before anything moves).

    Raises
    ------
    ValueError, ophyd.utils.LimitError
        For a non-number, NaN, negative or above-rating pressure, naming it.
    """
    values = list(pressures_MPa)
    for value in values:
        press.check_value(value)
    return [float(value) for value in values]


def settling(press: PressureCell) -> MsgGenerator[dict[str, float]]:
    """The press's settling criterion as a technique record: tolerance and dwell (reads)."""
    return {
        "tolerance_MPa": (yield from bps.rd(press.tolerance_MPa)),
        "dwell_s": (yield from bps.rd(press.dwell_s)),
    }


def settle_pressure(
    press: PressureCell,
    pressure_MPa: float,
    *,
    stream: str = data_keys.PRIMARY,
    clock: StationClock | None = None,
) -> MsgGenerator[None]:
    """Move to ``pressure_MPa``, wait until it holds, record force and pressure, and the
    ``clock``'s experiment time (no run)."""
    yield from bps.mv(press, pressure_MPa)
    yield from bps.trigger_and_read(clocked([press], clock), name=stream)


def pressure_step(
    press: PressureCell,
    pressure_MPa: float,
    *,
    clock: StationClock | None = None,
    md: dict | None = None,
) -> MsgGenerator[str]:
    """Press the cell to a stack pressure and record it once it holds.

    Parameters
    ----------
    press
        The stack-pressure cell.
    pressure_MPa
        Target stack pressure, MPa; refused before anything moves if NaN, negative or beyond
        the cell rating or load-cell range.
    clock
        The station's experiment clock, read in the event (``experiment_time_s``).
    md
        Extra start-document metadata.

    Returns
    -------
    str
        The run's uid.
    """
    plan_arguments.pressure_step(pressure_MPa=pressure_MPa)
    (pressure_MPa,) = check_pressures(press, [pressure_MPa])
    criterion = yield from settling(press)
    metadata = plan_metadata(
        "pressure_step",
        {"press": press, "pressure_MPa": pressure_MPa, "clock": clock},
        md,
        detectors=clocked([press], clock),
        motors=[press],
        num_points=1,
        pressure_MPa=pressure_MPa,
        technique={"name": "pressure_step", "pressure_MPa": pressure_MPa, **criterion},
    )

    @checkpointed_run(metadata)
    def inner() -> MsgGenerator[None]:
        yield from settle_pressure(press, pressure_MPa, clock=clock)

    return (yield from inner())
