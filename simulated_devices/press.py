"""Simulated press: actuator motor, load cell and epid-style force feedback, over caproto.

PVs (under the group prefix, e.g. ``SIM:press:``), modelled on a motor record, an ai load
cell and the synApps epid record (docs/pv_conventions.md):

=================  ====  ===========================================================
PV                 unit  meaning
=================  ====  ===========================================================
``m1``             mm    actuator motor record (``.VAL .RBV .DMOV .HLM .LLM .STOP``…)
``Force``          N     load-cell force (ai: ``.EGU``, ``.HIGH``/``.HIHI`` at 90 %/100 % of
                         the range, ``.LOW``/``.LOLO`` at −10 %/−100 %, ``.SEVR``)
``Pressure``       MPa   stack pressure = (force − tare) / disc area (ai, its alarm limits
                         the same fractions of the rating)
``Tare``           N     tare offset; write 1 to ``TareCmd`` to zero the load cell
``fb.VAL``         MPa   feedback setpoint; control limits = [0, min(rating, range/area)]
``fb.CVAL``        MPa   controlled value (the measured pressure)
``fb.OVAL``        mm    feedback output (actuator target), clamped to ``fb.DRVL/DRVH``
``fb.ODEL``        mm    output deadband: the actuator is moved once ``fb.OVAL`` is further
                         than this from its last target
``fb.FBON``              feedback Off/On
``fb.KI``          1     integral gain per update (fraction of the error corrected)
``Rating``         MPa   pressure rating of the cell
``LoadCellRange``  N     full scale of the load cell
``ErrorMsg``             last refusal or fault, empty when none
``Stop``                 write 1: feedback off and actuator stopped
``Interlock``            Ok / Tripped (MAJOR alarm while tripped)
``InterlockReset``       write 1: re-arm a tripped interlock (the feedback stays off)
=================  ====  ===========================================================

The interlock (`simulated_devices.interlock`): the actuator is stopped where the stack's
force reaches the lower of the load cell's full scale and the rating over the disc area,
whatever drives it (a move with the feedback off, the feedback itself); it then trips: the
feedback goes off, the actuator backs off to hold the last setpoint (at most 90 % of the
limit), ``ErrorMsg`` says why, ``Interlock``, ``Force`` and ``Pressure`` carry a MAJOR alarm
and ``fb.FBON=On`` is refused until ``InterlockReset``. The feedback output is clamped below
the limit, and ``fb.KI`` to `INTEGRAL_GAIN_RANGE` (its control limits).
"""

from __future__ import annotations

import math
from typing import ClassVar

from caproto import AlarmSeverity, AlarmStatus, ChannelType
from caproto.server import pvproperty

from conventions.cell_geometry import disc_area_mm2
from conventions.pv_states import InterlockState, Switch

from .cell import SimulatedCell
from .interlock import INTEGRAL_GAIN_RANGE, PressLimits
from .motor import TICK_S, SimulatedMotor
from .pvs import ReportingGroup, message_pv

#: Position at which the rods touch the stack, mm.
CONTACT_POSITION_MM = 1.0
#: The load cell's alarm limits, fractions of full scale (the load-cell range for ``Force``,
#: the rating for ``Pressure``): LOLO, LOW, HIGH, HIHI of its ai records. MINOR from 90 % of
#: full scale, MAJOR at it; a reading below −10 % (tension, a tare taken under load) is
#: MINOR, below −100 % MAJOR.
ALARM_FRACTIONS = (-1.0, -0.1, 0.9, 1.0)
#: The feedback's output deadband (epid's ``ODEL``), mm: the actuator is sent a new position
#: only when the output has moved further than this from the last one. Without it every
#: update moved the actuator by a fraction of a micrometre, and each motor-record move ending
#: (``DMOV`` 1, twice a tick) made every ophyd client read ``.TDIR`` and a limit switch on its
#: monitor thread: 90 reads a second per client, which delayed every monitor under load.
OUTPUT_DEADBAND_MM = 1e-3


def alarm_limits(full_scale: float) -> dict[str, float]:
    """An ai record's alarm limits (caproto's metadata names) for a reading of
    ``full_scale`` (`ALARM_FRACTIONS`), in its units."""
    lolo, low, high, hihi = (fraction * full_scale for fraction in ALARM_FRACTIONS)
    return {
        "lower_alarm_limit": lolo,
        "lower_warning_limit": low,
        "upper_warning_limit": high,
        "upper_alarm_limit": hihi,
    }


class PressIOC(ReportingGroup):
    """The press of one station, acting on the shared simulated cell.

    Parameters
    ----------
    cell
        The simulated cell whose stack pressure this press sets.
    rating_MPa
        Pressure rating of the cell; setpoints above it are refused.
    load_cell_range_N
        Full scale of the load cell.
    stiffness_N_per_mm15
        Stack stiffness K in F = K·(x − x_contact)^1.5 (Hertz-like contact).
    lag_s
        Time constant of the load-cell response, experiment seconds.
    noise_N
        Standard deviation of the load-cell noise, N.
    """

    # ai records: their .EGU, .HIGH/.HIHI/.LOW/.LOLO are set at startup (`ALARM_FRACTIONS`).
    force = pvproperty(
        name="Force",
        value=0.0,
        dtype=ChannelType.DOUBLE,
        read_only=True,
        units="N",
        precision=3,
        record="ai",
    )
    pressure = pvproperty(
        name="Pressure",
        value=0.0,
        dtype=ChannelType.DOUBLE,
        read_only=True,
        units="MPa",
        precision=3,
        record="ai",
    )
    tare = pvproperty(name="Tare", value=0.0, units="N", read_only=True, precision=3)
    tare_command = pvproperty(name="TareCmd", value=0, dtype=ChannelType.INT)
    setpoint = pvproperty(name="fb.VAL", value=0.0, units="MPa", precision=3)
    controlled_value = pvproperty(
        name="fb.CVAL", value=0.0, units="MPa", read_only=True, precision=3
    )
    output = pvproperty(name="fb.OVAL", value=0.0, units="mm", read_only=True, precision=4)
    feedback_on = pvproperty(
        name="fb.FBON", value=Switch.OFF, enum_strings=list(Switch), dtype=ChannelType.ENUM
    )
    integral_gain = pvproperty(
        name="fb.KI",
        value=0.5,
        lower_ctrl_limit=INTEGRAL_GAIN_RANGE[0],
        upper_ctrl_limit=INTEGRAL_GAIN_RANGE[1],
    )
    drive_low = pvproperty(name="fb.DRVL", value=0.0, units="mm", read_only=True)
    drive_high = pvproperty(name="fb.DRVH", value=3.0, units="mm", read_only=True)
    output_deadband = pvproperty(
        name="fb.ODEL", value=OUTPUT_DEADBAND_MM, units="mm", read_only=True, precision=5
    )
    rating = pvproperty(name="Rating", value=0.0, units="MPa", read_only=True)
    load_cell_range = pvproperty(name="LoadCellRange", value=0.0, units="N", read_only=True)
    error_message = message_pv("ErrorMsg", "last refusal or fault; empty when none")
    stop = pvproperty(name="Stop", value=0, dtype=ChannelType.INT)
    interlock = pvproperty(
        name="Interlock",
        value=InterlockState.OK,
        enum_strings=list(InterlockState),
        dtype=ChannelType.ENUM,
        read_only=True,
    )
    interlock_reset = pvproperty(name="InterlockReset", value=0, dtype=ChannelType.INT)

    refusal_reasons: ClassVar[dict[str, str]] = {
        "fb.VAL": "cell rating / load-cell range",
        "fb.KI": "above 1 each update over-corrects and the loop oscillates",
    }
    #: Settings a stray client may not write while the station holds its lock
    #: (`simulated_devices.access`).
    locked_while_busy = ("fb.KI", "fb.FBON", "TareCmd")

    def __init__(
        self,
        *args,
        cell: SimulatedCell,
        rating_MPa: float,
        load_cell_range_N: float,
        stiffness_N_per_mm15: float = 222.0,
        lag_s: float = 1.0,
        noise_N: float = 0.02,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cell = cell
        self.area_mm2 = disc_area_mm2(cell.params.geometry.diameter_mm)
        self.rating_MPa = rating_MPa
        self.load_cell_range_N = load_cell_range_N
        self.stiffness = stiffness_N_per_mm15
        self.lag_s = lag_s
        self.noise_N = noise_N
        self.limits = PressLimits(rating_MPa, load_cell_range_N, self.area_mm2)
        self.max_setpoint_MPa = self.limits.limit_pressure_MPa
        self._true_force_N = 0.0
        self.actuator = SimulatedMotor(
            prefix=self.prefix + "m1",
            parent=self,
            clock=cell.clock,
            limits=(0.0, 3.0),
            velocity=0.05,
            units="mm",
            ceiling=self._interlock_position_mm,
            on_ceiling=self._trip,
        )
        self.pvdb.update(self.actuator.pvdb)

    def _force_at(self, position_mm: float) -> float:
        return self.stiffness * max(position_mm - CONTACT_POSITION_MM, 0.0) ** 1.5

    def _position_for(self, force_N: float) -> float:
        return CONTACT_POSITION_MM + (max(force_N, 0.0) / self.stiffness) ** (2.0 / 3.0)

    def _interlock_position_mm(self) -> float:
        """Where the stack's force reaches the interlock's limit, mm."""
        return self._position_for(self.limits.limit_force_N)

    @property
    def tripped(self) -> bool:
        """Whether the interlock has tripped and not been reset."""
        return self.interlock.value == InterlockState.TRIPPED

    async def _trip(self, commanded_mm: float) -> None:
        """The actuator was stopped at the force limit on its way to ``commanded_mm``."""
        feedback = self.feedback_on.value == Switch.ON
        cause = f"feedback on, KI={self.integral_gain.value:g}" if feedback else "feedback off"
        await self.feedback_on.write(Switch.OFF)
        await self.interlock.write(
            InterlockState.TRIPPED, severity=AlarmSeverity.MAJOR_ALARM, status=AlarmStatus.STATE
        )
        await self.error_message.write(self.limits.trip_message(commanded_mm, cause))
        hold = self._position_for(self.limits.hold_force_N(self.setpoint.value))
        await self.actuator.motor.write(min(hold, self.actuator.position))

    @interlock_reset.putter
    async def interlock_reset(self, instance, value):
        if value and self.tripped:
            await self.interlock.write(
                InterlockState.OK, severity=AlarmSeverity.NO_ALARM, status=AlarmStatus.NO_ALARM
            )
            await self.error_message.write("")
        return 0

    @setpoint.putter
    async def setpoint(self, instance, value):
        # Beyond the control limits (NaN included) caproto refuses before this runs.
        await self.error_message.write("")
        return value

    @tare_command.putter
    async def tare_command(self, instance, value):
        if value:
            await self.tare.write(self.force.value)
        return 0

    @stop.putter
    async def stop(self, instance, value):
        if value:
            await self.feedback_on.write(Switch.OFF)
            await self.actuator.motor.field_inst.stop.write(1)
        return 0

    @force.startup
    async def force(self, instance, async_lib):
        await self.rating.write(self.rating_MPa)
        await self.load_cell_range.write(self.load_cell_range_N)
        await self.setpoint.write_metadata(
            lower_ctrl_limit=0.0, upper_ctrl_limit=self.max_setpoint_MPa
        )
        for reading, full_scale in (
            (instance, self.load_cell_range_N),
            (self.pressure, self.rating_MPa),
        ):
            await reading.write_metadata(**alarm_limits(full_scale))
            # caproto's ai fields leave .EGU empty: the record's units.
            await reading.field_inst.engineering_units.write(reading.units)
        while True:
            await async_lib.library.sleep(TICK_S)
            await self._update()

    async def _update(self) -> None:
        dt = TICK_S * self.cell.clock.time_scale
        target_force = self._force_at(self.actuator.position)
        approach = 1.0 - math.exp(-dt / self.lag_s)
        self._true_force_N += (target_force - self._true_force_N) * approach
        measured = self.cell.load_cell_force_N(
            self._true_force_N, self.setpoint.value, self.noise_N
        )
        pressure = self.cell.load_cell_pressure_MPa(
            measured, self.tare.value, self.area_mm2, self.setpoint.value
        )
        # Each reading's alarm is its ai limits' (caproto's check, as the record's), unless
        # the interlock has tripped: then MAJOR (STATE), unverified, which the check would
        # replace.
        tripped = (
            {"severity": AlarmSeverity.MAJOR_ALARM, "status": AlarmStatus.STATE}
            if self.tripped
            else {}
        )
        for pv, value in ((self.force, measured), (self.pressure, pressure)):
            await pv.write(value, verify_value=not tripped, **tripped)
        await self.controlled_value.write(pressure)
        self.cell.set_pressure(self._true_force_N / self.area_mm2)
        if self.feedback_on.value == Switch.ON:
            await self._feedback(pressure)

    @feedback_on.putter
    async def feedback_on(self, instance, value):
        if value == Switch.ON and self.tripped:
            raise ValueError("interlock tripped: write 1 to InterlockReset first")
        if value == Switch.ON:
            # Bumpless start: the integrator begins at the actuator's position.
            await self.output.write(self.actuator.position)
        return value

    async def _feedback(self, pressure_MPa: float) -> None:
        """Integral control of the actuator on the pressure error, once per update (errors
        below the load cell's resolution are left alone)."""
        if abs(self.setpoint.value - pressure_MPa) < self.cell.load_cell_resolution_MPa:
            return
        error_N = (self.setpoint.value - pressure_MPa) * self.area_mm2
        wanted_force_N = self._force_at(self.output.value) + self.integral_gain.value * error_N
        # Clamped to the drive limits, as epid's DRVL/DRVH, and below the interlock.
        high = min(self.drive_high.value, self._interlock_position_mm())
        target = min(max(self._position_for(wanted_force_N), self.drive_low.value), high)
        if self.setpoint.value <= 0.0:
            target = min(target, CONTACT_POSITION_MM)
        await self.output.write(target)
        if abs(target - self.actuator.motor.value) > self.output_deadband.value:
            await self.actuator.motor.write(target)
