"""A simulated EPICS motor record, served by caproto, moving on the simulated clock.

Serves the fields ophyd's `EpicsMotor` uses (``.VAL .RBV .DMOV .MOVN .HLM .LLM .VELO .ACCL
.STOP .HLS .LLS .EGU``). Unlike caproto's example motor it publishes its user limits as the
``.VAL`` control limits (so ophyd raises `LimitError` before any put) and refuses a write
beyond them in the IOC too. A move follows the motor record's trapezoidal profile: from rest
to ``.VELO`` in ``.ACCL`` seconds, at ``.VELO``, and to rest in ``.ACCL`` (a short move
accelerates for half its distance and decelerates for the other half).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from caproto import ChannelType
from caproto.server import pvproperty
from caproto.server.records import MotorFields, register_record

from .physics.clock import SimClock
from .pvs import ReportingGroup

TICK_S = 0.02
#: Display precision of the position (``.PREC`` and the readbacks' precision), digits.
PRECISION = 4


def move_duration_s(distance: float, velocity: float, acceleration_s: float) -> float:
    """Experiment seconds a move of ``distance`` (units) takes at ``velocity`` (units/s),
    accelerating from and decelerating to rest in ``acceleration_s`` (the record's ACCL)."""
    distance = abs(distance)
    if velocity <= 0 or distance == 0:
        return 0.0
    if acceleration_s <= 0:
        return distance / velocity
    ramp = velocity * acceleration_s / 2  # distance accelerating to full speed takes
    if 2 * ramp >= distance:  # never at full speed: half accelerating, half decelerating
        return 2 * math.sqrt(distance * acceleration_s / velocity)
    return 2 * acceleration_s + (distance - 2 * ramp) / velocity


def travelled(elapsed_s: float, distance: float, velocity: float, acceleration_s: float) -> float:
    """How far (units, ≥ 0) a move of ``distance`` has gone after ``elapsed_s`` (see
    `move_duration_s`)."""
    distance = abs(distance)
    total_s = move_duration_s(distance, velocity, acceleration_s)
    if elapsed_s >= total_s:
        return distance
    if elapsed_s <= 0:
        return 0.0
    if acceleration_s <= 0:
        return velocity * elapsed_s
    rate = velocity / acceleration_s  # units/s²
    ramp_s = min(acceleration_s, total_s / 2)
    if elapsed_s <= ramp_s:
        return rate * elapsed_s**2 / 2
    remaining_s = total_s - elapsed_s
    if remaining_s <= ramp_s:
        return distance - rate * remaining_s**2 / 2
    return rate * ramp_s**2 / 2 + velocity * (elapsed_s - ramp_s)


def full_speed_s(distance: float, velocity: float, acceleration_s: float) -> tuple[float, float]:
    """When (experiment s into the move) it reaches full speed and starts to decelerate:
    the ends of its constant-velocity part, where a follower's interpolation holds."""
    total_s = move_duration_s(distance, velocity, acceleration_s)
    ramp_s = min(max(acceleration_s, 0.0), total_s / 2)
    return ramp_s, total_s - ramp_s


@register_record
class SimulatedMotorFields(MotorFields):
    """Motor record fields whose limit writes keep ``.VAL``'s control limits in step."""

    _record_type = "motor"

    user_high_limit = pvproperty(name="HLM", dtype=ChannelType.DOUBLE, doc="User High Limit")
    user_low_limit = pvproperty(name="LLM", dtype=ChannelType.DOUBLE, doc="User Low Limit")

    @user_high_limit.putter
    async def user_high_limit(self, instance, value):
        await self.parent.write_metadata(upper_ctrl_limit=value)

    @user_low_limit.putter
    async def user_low_limit(self, instance, value):
        await self.parent.write_metadata(lower_ctrl_limit=value)


class SimulatedMotor(ReportingGroup):
    """One motor record at the group's prefix, moving at ``.VELO`` in experiment time.

    A move runs at the ``.VELO`` of its start (as the motor record's); the readback is where
    the motor is at each tick's experiment time, however many experiment seconds a tick spans.

    Parameters
    ----------
    clock
        The station's simulated clock; velocity is in units per experiment second.
    limits
        (low, high) user limits, in engineering units.
    velocity
        Initial velocity, units/s.
    acceleration_s
        Initial acceleration time (``.ACCL``), s: to full speed and back to rest.
    units
        Engineering units (``.EGU``).
    on_position
        Optional coroutine function called with (readback, experiment time at which the motor
        was there) at startup, at the start of every move and after every update.
    ceiling
        Optional function giving the highest position the hardware lets the motor reach now
        (an interlock acting within the motion, however far a tick of the clock carries it).
    on_ceiling
        Coroutine function called with the commanded position when a move was stopped at the
        ceiling (the motor is then done, at the ceiling).
    """

    motor = pvproperty(name="", value=0.0, record="motor", precision=PRECISION)

    def __init__(
        self,
        *args,
        clock: SimClock,
        limits: tuple[float, float],
        velocity: float,
        units: str,
        acceleration_s: float = 0.0,
        initial_position: float = 0.0,
        on_position=None,
        ceiling: Callable[[], float] | None = None,
        on_ceiling: Callable[[float], Awaitable[None]] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.limits = limits
        self.initial_velocity = velocity
        self.initial_acceleration_s = acceleration_s
        self.units = units
        self.initial_position = initial_position
        self.on_position = on_position
        self.ceiling = ceiling
        self.on_ceiling = on_ceiling
        self._target: float | None = None
        # (readback, experiment time, speed, acceleration time) at the start of the move.
        self._move: tuple[float, float, float, float] = (initial_position, 0.0, velocity, 0.0)
        # Experiment time of the last position reported to ``on_position``.
        self._reported_s = 0.0

    @property
    def position(self) -> float:
        """Current readback, engineering units."""
        return self.motor.field_inst.user_readback_value.value

    @motor.putter
    async def motor(self, instance, value):
        low = self.motor.field_inst.user_low_limit.value
        high = self.motor.field_inst.user_high_limit.value
        if not low <= value <= high:
            # Defence in depth: ophyd refuses this already from the control limits.
            await self.motor.field_inst.high_limit_switch.write(int(value > high))
            await self.motor.field_inst.low_limit_switch.write(int(value < low))
            raise ValueError(f"{instance.pvname}: {value} outside limits [{low}, {high}]")
        fields = self.motor.field_inst
        now = self.clock.now()
        self._target = float(value)
        self._move = (
            fields.user_readback_value.value,
            now,
            abs(fields.velocity.value),
            max(float(fields.seconds_to_velocity.value), 0.0),
        )
        await self._report(self._move[0], now)
        await self.motor.field_inst.done_moving_to_value.write(0)
        await self.motor.field_inst.motor_is_moving.write(1)
        return value

    @motor.startup
    async def motor(self, instance, async_lib):
        fields = self.motor.field_inst
        low, high = self.limits
        await fields.engineering_units.write(self.units)
        await fields.display_precision.write(PRECISION)
        # Clients (ophyd's describe, LiveTable) take units and precision from the readback.
        for readback in (fields.user_readback_value, fields.dial_readback_value):
            await readback.write_metadata(units=self.units, precision=PRECISION)
        await fields.velocity.write(self.initial_velocity)
        await fields.seconds_to_velocity.write(self.initial_acceleration_s)
        await fields.user_low_limit.write(low)
        await fields.user_high_limit.write(high)
        await instance.write_metadata(
            lower_ctrl_limit=low, upper_ctrl_limit=high, units=self.units
        )
        await instance.write(self.initial_position, verify_value=False)
        await fields.user_readback_value.write(self.initial_position)
        await fields.done_moving_to_value.write(1)
        await fields.motor_is_moving.write(0)
        await self._report(self.initial_position, self.clock.now())
        while True:
            await async_lib.library.sleep(TICK_S)
            await self._tick(fields)

    async def _tick(self, fields) -> None:
        readback = fields.user_readback_value.value
        if fields.stop.value:  # a STOP (also when idle) is consumed at once
            await fields.stop.write(0)
            if self._target is not None:
                self._target = readback
                await self.motor.write(readback, verify_value=False)
        if self._target is None:
            return
        origin, started, velocity, acceleration_s = self._move
        distance = self._target - origin
        now = self.clock.now()
        duration_s = move_duration_s(distance, velocity, acceleration_s)
        if velocity > 0 and now - started >= duration_s:
            position = self._target
            now = started + duration_s
        else:
            position = origin + math.copysign(
                travelled(now - started, distance, velocity, acceleration_s), distance
            )
        # The ends of the constant-speed part, reported as they pass (a follower interpolates
        # linearly between reports: exact only where the speed is constant).
        for offset_s in full_speed_s(distance, velocity, acceleration_s):
            at_s = started + offset_s
            if self._reported_s < at_s < now:
                await self._report(
                    origin
                    + math.copysign(
                        travelled(offset_s, distance, velocity, acceleration_s), distance
                    ),
                    at_s,
                )
        commanded = self._target
        stopped = self.ceiling is not None and position > self.ceiling()
        if stopped:
            assert self.ceiling is not None
            position = self._target = self.ceiling()
            await self.motor.write(position, verify_value=False)
        await fields.user_readback_value.write(position)
        await fields.dial_readback_value.write(position)
        await self._report(position, now)
        if position == self._target:
            self._target = None
            await fields.motor_is_moving.write(0)
            await fields.done_moving_to_value.write(1)
        if stopped and self.on_ceiling is not None:
            await self.on_ceiling(commanded)

    async def _report(self, position: float, at_s: float) -> None:
        """Tell ``on_position`` where the motor is (was) at experiment time ``at_s``."""
        self._reported_s = at_s
        if self.on_position is not None:
            await self.on_position(position, at_s)
