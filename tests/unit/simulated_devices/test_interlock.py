"""The press interlock's limits, and the simulated press controller acting on them (in
process, no Channel Access: the IOC's coroutines driven tick by tick)."""

from __future__ import annotations

import asyncio
import math

import pytest

from conventions.pv_states import InterlockState, Switch
from simulated_devices.interlock import HOLD_FRACTION, PressLimits
from simulated_devices.station import StationOptions, build_station

AREA_MM2 = math.pi * 0.25  # a 1 mm disc


def test_limit_is_the_lower_of_rating_and_load_cell_range():
    by_rating = PressLimits(rating_MPa=150.0, load_cell_range_N=500.0, area_mm2=AREA_MM2)
    assert by_rating.limit_force_N == pytest.approx(150.0 * AREA_MM2)
    assert by_rating.limit_pressure_MPa == pytest.approx(150.0)
    by_range = PressLimits(rating_MPa=1000.0, load_cell_range_N=100.0, area_mm2=AREA_MM2)
    assert by_range.limit_force_N == 100.0
    assert "load-cell range 100 N" in by_range.trip_message(3.0, "feedback off")
    assert "rating 150 MPa" in by_rating.trip_message(3.0, "feedback off")


def test_hold_force_is_the_setpoint_below_the_limit():
    limits = PressLimits(rating_MPa=150.0, load_cell_range_N=500.0, area_mm2=AREA_MM2)
    assert limits.hold_force_N(20.0) == pytest.approx(20.0 * AREA_MM2)
    assert limits.hold_force_N(150.0) == pytest.approx(HOLD_FRACTION * limits.limit_force_N)
    assert limits.hold_force_N(-5.0) == 0.0


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_limits_must_be_finite_and_positive(bad):
    with pytest.raises(ValueError, match="rating_MPa"):
        PressLimits(rating_MPa=bad, load_cell_range_N=500.0, area_mm2=AREA_MM2)


def _press(time_scale: float = 1e5):
    _, pvdb = build_station(StationOptions(prefix="U:", time_scale=time_scale))
    return pvdb["U:press:Force"].group


async def _ticks(press, count: int) -> None:
    fields = press.actuator.motor.field_inst
    for _ in range(count):
        await press.actuator._tick(fields)
        await press._update()


async def _start(press) -> None:
    """What the IOC's startup hooks publish, without serving."""
    fields = press.actuator.motor.field_inst
    await fields.user_high_limit.write(3.0)
    await fields.velocity.write(0.05)
    await press.setpoint.write_metadata(lower_ctrl_limit=0.0, upper_ctrl_limit=150.0)


def test_actuator_driven_with_feedback_off_stops_at_the_limit_and_backs_off():
    async def scenario():
        press = _press()
        await _start(press)
        await press.setpoint.write(20.0)
        await press.actuator.motor.write(3.0)  # full travel: 5x the rating
        highest = 0.0
        for _ in range(20):
            await _ticks(press, 1)
            highest = max(highest, press._true_force_N / press.area_mm2)
        return press, highest

    press, highest = asyncio.run(scenario())
    assert highest <= 150.0 + 1e-9
    assert press.interlock.value == InterlockState.TRIPPED
    assert press.feedback_on.value == Switch.OFF
    assert press._true_force_N == pytest.approx(20.0 * press.area_mm2, rel=1e-3)
    assert "interlock tripped" in press.error_message.value


def test_feedback_on_is_refused_until_reset():
    async def scenario():
        press = _press()
        await _start(press)
        await press.actuator.motor.write(3.0)
        await _ticks(press, 5)
        with pytest.raises(ValueError, match="InterlockReset"):
            await press.feedback_on.write(Switch.ON)
        refused = press.error_message.value
        await press.interlock_reset.write(1)
        await press.feedback_on.write(Switch.ON)
        return press, refused

    press, refused = asyncio.run(scenario())
    assert "fb.FBON='On' refused: interlock tripped" in refused
    assert press.interlock.value == InterlockState.OK
    assert press.feedback_on.value == Switch.ON


def test_feedback_at_the_limit_holds_there_without_tripping():
    async def scenario():
        press = _press()
        await _start(press)
        await press.integral_gain.write(1.0)
        await press.setpoint.write(150.0)
        await press.feedback_on.write(Switch.ON)
        await _ticks(press, 40)
        return press

    press = asyncio.run(scenario())
    assert press.interlock.value == InterlockState.OK
    assert press._true_force_N / press.area_mm2 == pytest.approx(150.0, rel=1e-3)
    assert press._true_force_N <= press.limits.limit_force_N + 1e-9
