"""A simulated EPICS motor record, served by caproto, moving on the simulated clock.

Serves the fields ophyd's `EpicsMotor` uses (``.VAL .RBV .DMOV .MOVN .HLM .LLM .VELO .ACCL
.STOP .HLS .LLS .EGU``). Unlike caproto's example motor it publishes its user limits as the
``.VAL`` control limits (so ophyd raises `LimitError` before any put) and refuses a write
beyond them in the IOC too.
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
        self.units = units
        self.initial_position = initial_position
        self.on_position = on_position
        self.ceiling = ceiling
        self.on_ceiling = on_ceiling
        self._target: float | None = None
        # (readback, experiment time, speed) at the start of the current move.
        self._move: tuple[float, float, float] = (initial_position, 0.0, velocity)

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
        self._move = (fields.user_readback_value.value, now, abs(fields.velocity.value))
        if self.on_position is not None:
            await self.on_position(self._move[0], now)
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
        await fields.seconds_to_velocity.write(0.1)
        await fields.user_low_limit.write(low)
        await fields.user_high_limit.write(high)
        await instance.write_metadata(
            lower_ctrl_limit=low, upper_ctrl_limit=high, units=self.units
        )
        await instance.write(self.initial_position, verify_value=False)
        await fields.user_readback_value.write(self.initial_position)
        await fields.done_moving_to_value.write(1)
        await fields.motor_is_moving.write(0)
        if self.on_position is not None:
            await self.on_position(self.initial_position, self.clock.now())
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
        origin, started, velocity = self._move
        distance = self._target - origin
        now = self.clock.now()
        travelled = velocity * (now - started)
        if travelled >= abs(distance):
            position = self._target
            now = started + abs(distance) / velocity if velocity > 0 else now
        else:
            position = origin + math.copysign(travelled, distance)
        commanded = self._target
        stopped = self.ceiling is not None and position > self.ceiling()
        if stopped:
            assert self.ceiling is not None
            position = self._target = self.ceiling()
            await self.motor.write(position, verify_value=False)
        await fields.user_readback_value.write(position)
        await fields.dial_readback_value.write(position)
        if self.on_position is not None:
            await self.on_position(position, now)
        if position == self._target:
            self._target = None
            await fields.motor_is_moving.write(0)
            await fields.done_moving_to_value.write(1)
        if stopped and self.on_ceiling is not None:
            await self.on_ceiling(commanded)
