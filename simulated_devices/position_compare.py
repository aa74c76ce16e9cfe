"""Simulated position-compare unit: trigger pulses at evenly spaced positions of a motor.

Modelled on the ``PC_*`` PVs of a Zebra (docs/pv_conventions.md), reduced to what a rotation fly
scan uses. Under the group prefix (e.g. ``SIM:tomo:pc:``):

=====================  ======  ===========================================================
PV                     unit    meaning
=====================  ======  ===========================================================
``PC_DIR``                     Positive / Negative: direction the motor crosses the pulses
``PC_PULSE_START``     deg     position of the first pulse
``PC_PULSE_STEP``      deg     distance between pulses (> 0)
``PC_PULSE_MAX``               pulses per arm; the unit disarms itself after the last
``PC_ARM``                     1 arms (clears the captured positions)
``PC_DISARM``                  1 disarms
``PC_ARM_OUT``                 1 while armed; its timestamp (wall clock) is the arm time
``PC_NUM_DOWN``                pulses sent since the last arm
``PC_ENC1``            deg     captured motor position of each pulse (published on disarm)
``PC_TIME``            s       time of each pulse since arm (published on disarm)
=====================  ======  ===========================================================

A pulse fires when the motor's readback reaches or passes its position; positions passed
before the arm give no pulse (so ``PC_NUM_DOWN`` can end short of ``PC_PULSE_MAX``). The
motor reports where it was at which experiment time once per tick (and at the start of a
move), so a pulse's time is interpolated between the last two reports — exact at constant
velocity, as a hardware unit latches its clock at the pulse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from caproto import ChannelType
from caproto.server import pvproperty

from conventions.pv_states import Direction

from .physics.clock import SimClock
from .pvs import ReportingGroup

#: Most pulses one arm can capture (length of ``PC_ENC1`` and ``PC_TIME``).
MAX_PULSES = 20000

#: Coroutine function called with (pulse index, position, experiment time) of each pulse.
PulseTarget = Callable[[int, float, float], Awaitable[None]]


class PositionCompareIOC(ReportingGroup):
    """Pulses at ``PC_PULSE_START + i·PC_PULSE_STEP`` as the followed motor passes them.

    Parameters
    ----------
    clock
        The station's simulated clock (pulse times are experiment times).
    on_pulse
        Called for every pulse (the camera's external trigger input).
    """

    direction = pvproperty(
        name="PC_DIR",
        value=Direction.POSITIVE,
        dtype=ChannelType.ENUM,
        enum_strings=list(Direction),
    )
    pulse_start = pvproperty(name="PC_PULSE_START", value=0.0, units="deg", precision=4)
    pulse_step = pvproperty(name="PC_PULSE_STEP", value=1.0, units="deg", precision=4)
    pulse_max = pvproperty(name="PC_PULSE_MAX", value=1, dtype=ChannelType.INT)
    arm = pvproperty(name="PC_ARM", value=0, dtype=ChannelType.INT)
    disarm = pvproperty(name="PC_DISARM", value=0, dtype=ChannelType.INT)
    armed = pvproperty(name="PC_ARM_OUT", value=0, dtype=ChannelType.INT, read_only=True)
    num_down = pvproperty(name="PC_NUM_DOWN", value=0, dtype=ChannelType.INT, read_only=True)
    positions = pvproperty(
        name="PC_ENC1", value=[0.0], max_length=MAX_PULSES, units="deg", read_only=True
    )
    times = pvproperty(
        name="PC_TIME", value=[0.0], max_length=MAX_PULSES, units="s", read_only=True
    )

    def __init__(self, *args, clock: SimClock, on_pulse: PulseTarget, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.on_pulse = on_pulse
        self._last: tuple[float, float] | None = None  # (position, experiment time)
        self._armed_at = 0.0
        self._positions: list[float] = []
        self._times: list[float] = []
        self._next_pulse = 0

    @pulse_step.putter
    async def pulse_step(self, instance, value):
        if not value > 0:
            raise ValueError(f"{instance.pvname}: pulse step must be > 0, got {value}")
        return value

    @pulse_max.putter
    async def pulse_max(self, instance, value):
        if not 0 < value <= MAX_PULSES:
            raise ValueError(f"{instance.pvname}: pulses must be 1..{MAX_PULSES}, got {value}")
        return value

    @arm.putter
    async def arm(self, instance, value):
        if value:
            self._positions, self._times = [], []
            self._next_pulse = 0
            self._armed_at = self.clock.now()
            await self.num_down.write(0)
            await self.armed.write(1)
        return 0

    @disarm.putter
    async def disarm(self, instance, value):
        if value and self.armed.value:
            await self._disarm()
        return 0

    async def _disarm(self) -> None:
        await self.positions.write(self._positions or [0.0])
        await self.times.write(self._times or [0.0])
        await self.armed.write(0)

    async def follow(self, position: float, now: float) -> None:
        """Take the followed motor's readback at experiment time ``now``; fire the pulses it
        reached or passed since the last report (at times interpolated between the two)."""
        last, self._last = self._last, (position, now)
        if not self.armed.value or last is None:
            return
        previous, previous_time = last
        sign = 1.0 if self.direction.value == Direction.POSITIVE else -1.0
        if sign * (position - previous) <= 0:
            return
        start, step, total = (self.pulse_start.value, self.pulse_step.value, self.pulse_max.value)
        while self._next_pulse < total:
            target = start + sign * step * self._next_pulse
            if sign * (position - target) < 0:
                break  # not reached yet
            self._next_pulse += 1
            if sign * (target - previous) < 0:
                continue  # passed before the unit was armed: no pulse, as in hardware
            fraction = (target - previous) / (position - previous)
            pulse_time = previous_time + fraction * (now - previous_time)
            index = len(self._positions)
            self._positions.append(float(target))
            self._times.append(pulse_time - self._armed_at)
            await self.num_down.write(index + 1)
            await self.on_pulse(index, float(target), pulse_time)
        if self._next_pulse >= total:
            await self._disarm()
