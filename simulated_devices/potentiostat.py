"""Simulated potentiostat channel over caproto, in the conventions of the BioLogic asyn driver.

PVs (under the group prefix, e.g. ``SIM:pstat:``); setpoints ``…:SP`` have readbacks without
the suffix. Techniques run while the busy ``START`` put is outstanding (``put_complete``), so a
client learns the end from the put callback; ``SEQ`` then has advanced and ``STATUS``/``ERR``
say how it ended.

===============================  =====  ================================================
PV                               unit   meaning
===============================  =====  ================================================
``CELL``/``CELL:SP``                    cell connection Off/On
``TECH``/``TECH:SP``                    technique: OCV, PEIS, CP
``START``                               write 1: run the technique, completes at its end
``STOP``                                write 1: stop the technique, cell off
``STATE``                               Stopped / Running
``EWE`` ``I`` ``Q``              V A    live voltage, current; charge of this technique
                                 mAh
``TIME`` ``FREQ``                s Hz   experiment time in technique; EIS frequency now
``T:PEIS:0:InitialFreq``         Hz     first frequency of the sweep
``T:PEIS:0:FinalFreq``           Hz     last frequency of the sweep
``T:PEIS:0:PointsPerDecade``            log spacing
``T:PEIS:0:Amplitude``           V      AC amplitude
``PEIS:Freq`` ``PEIS:ZRe``       Hz Ω   result waveforms (``PEIS:NumPoints`` valid)
``PEIS:ZIm``                     Ω
``T:CP:0:Current``               A      constant current (+ charge / plating)
``T:CP:0:EMax`` ``T:CP:0:EMin``  V      voltage cut-offs
``T:CP:0:Duration``              s      time limit (experiment time)
``T:CP:0:CapacityLimit``         mAh    capacity limit (0 = none)
``T:CP:0:RecordInterval``        s      trace sampling interval (experiment time)
``T:OCV:0:Duration``             s      rest duration
``CP:Time`` ``CP:Ewe`` ``CP:I``  s V A  trace waveforms, NaN-padded (``CP:NumPoints``)
``CP:Capacity``                  mAh    capacity passed in the half cycle
``CP:Reason``                           why the half cycle ended
``ComplianceCurrent``            A      |current| limit (control limits of the current)
``ComplianceVoltage``            V      |voltage| limit (control limits of the cut-offs; the
                                        output stops there: ``CP:Reason`` compliance)
``SEQ``                                 count of finished techniques
``STATUS`` ``ERR``                      Ok/Error of the last technique and its message
===============================  =====  ================================================
"""

from __future__ import annotations

import math

import numpy as np
from caproto import ChannelType
from caproto.server import pvproperty

from conventions.cycling import TRACE_BUFFER_POINTS
from conventions.impedance import FREQUENCY_RANGE_HZ, MAX_SPECTRUM_POINTS, sweep_frequencies_Hz
from conventions.pv_states import HalfCycleEnd, Outcome, Switch, Technique, TechniqueState

from .cell import SimulatedCell
from .motor import TICK_S
from .physics.electrochemistry import HalfCycleLimits
from .pvs import ReportingGroup, message_pv

#: Periods of the excitation measured at each EIS frequency.
PERIODS_PER_FREQUENCY = 3
#: Relative noise of the impedance measurement (0.5 %).
EIS_NOISE_FRACTION = 0.005


def _setpoint_pair(name: str, value: float, units: str, **kwargs):
    """A ``NAME:SP`` setpoint and its ``NAME`` readback."""
    return (
        pvproperty(name=name + ":SP", value=value, units=units, **kwargs),
        pvproperty(name=name, value=value, units=units, read_only=True, **kwargs),
    )


class PotentiostatIOC(ReportingGroup):
    """One potentiostat channel wired to the shared simulated cell.

    Parameters
    ----------
    cell
        The simulated cell.
    compliance_current_A, compliance_voltage_V
        Output limits; setpoints beyond them are refused.
    """

    cell_on_sp, cell_on = (
        pvproperty(
            name="CELL:SP", value=Switch.OFF, enum_strings=list(Switch), dtype=ChannelType.ENUM
        ),
        pvproperty(
            name="CELL",
            value=Switch.OFF,
            enum_strings=list(Switch),
            dtype=ChannelType.ENUM,
            read_only=True,
        ),
    )
    technique_sp, technique = (
        pvproperty(
            name="TECH:SP",
            value=Technique.OCV,
            enum_strings=list(Technique),
            dtype=ChannelType.ENUM,
        ),
        pvproperty(
            name="TECH",
            value=Technique.OCV,
            enum_strings=list(Technique),
            dtype=ChannelType.ENUM,
            read_only=True,
        ),
    )
    start = pvproperty(name="START", value=0, dtype=ChannelType.INT)
    stop = pvproperty(name="STOP", value=0, dtype=ChannelType.INT)
    state = pvproperty(
        name="STATE",
        value=TechniqueState.STOPPED,
        enum_strings=list(TechniqueState),
        dtype=ChannelType.ENUM,
        read_only=True,
    )
    voltage = pvproperty(name="EWE", value=0.0, units="V", read_only=True, precision=5)
    current = pvproperty(name="I", value=0.0, units="A", read_only=True, precision=9)
    charge = pvproperty(name="Q", value=0.0, units="mAh", read_only=True, precision=9)
    elapsed = pvproperty(name="TIME", value=0.0, units="s", read_only=True, precision=1)
    frequency = pvproperty(name="FREQ", value=0.0, units="Hz", read_only=True, precision=3)

    eis_initial_freq_sp, eis_initial_freq = _setpoint_pair("T:PEIS:0:InitialFreq", 1e6, "Hz")
    eis_final_freq_sp, eis_final_freq = _setpoint_pair("T:PEIS:0:FinalFreq", 0.1, "Hz")
    eis_points_per_decade_sp, eis_points_per_decade = (
        pvproperty(name="T:PEIS:0:PointsPerDecade:SP", value=10, dtype=ChannelType.INT),
        pvproperty(
            name="T:PEIS:0:PointsPerDecade", value=10, dtype=ChannelType.INT, read_only=True
        ),
    )
    eis_amplitude_sp, eis_amplitude = _setpoint_pair("T:PEIS:0:Amplitude", 0.01, "V")
    eis_frequency = pvproperty(
        name="PEIS:Freq",
        value=np.zeros(MAX_SPECTRUM_POINTS),
        units="Hz",
        read_only=True,
        max_length=MAX_SPECTRUM_POINTS,
        dtype=ChannelType.DOUBLE,
    )
    eis_z_real = pvproperty(
        name="PEIS:ZRe",
        value=np.zeros(MAX_SPECTRUM_POINTS),
        units="Ohm",
        read_only=True,
        max_length=MAX_SPECTRUM_POINTS,
        dtype=ChannelType.DOUBLE,
    )
    eis_z_imag = pvproperty(
        name="PEIS:ZIm",
        value=np.zeros(MAX_SPECTRUM_POINTS),
        units="Ohm",
        read_only=True,
        max_length=MAX_SPECTRUM_POINTS,
        dtype=ChannelType.DOUBLE,
    )
    eis_num_points = pvproperty(
        name="PEIS:NumPoints", value=0, dtype=ChannelType.INT, read_only=True
    )

    cp_current_sp, cp_current = _setpoint_pair("T:CP:0:Current", 0.0, "A", precision=9)
    cp_upper_sp, cp_upper = _setpoint_pair("T:CP:0:EMax", 3.7, "V", precision=4)
    cp_lower_sp, cp_lower = _setpoint_pair("T:CP:0:EMin", 2.5, "V", precision=4)
    cp_duration_sp, cp_duration = _setpoint_pair("T:CP:0:Duration", 3600.0, "s")
    cp_capacity_limit_sp, cp_capacity_limit = _setpoint_pair(
        "T:CP:0:CapacityLimit", 0.0, "mAh", precision=9
    )
    cp_record_interval_sp, cp_record_interval = _setpoint_pair("T:CP:0:RecordInterval", 10.0, "s")
    ocv_duration_sp, ocv_duration = _setpoint_pair("T:OCV:0:Duration", 60.0, "s")
    trace_time = pvproperty(
        name="CP:Time",
        value=np.full(TRACE_BUFFER_POINTS, np.nan),
        units="s",
        read_only=True,
        max_length=TRACE_BUFFER_POINTS,
        dtype=ChannelType.DOUBLE,
    )
    trace_voltage = pvproperty(
        name="CP:Ewe",
        value=np.full(TRACE_BUFFER_POINTS, np.nan),
        units="V",
        read_only=True,
        max_length=TRACE_BUFFER_POINTS,
        dtype=ChannelType.DOUBLE,
    )
    trace_current = pvproperty(
        name="CP:I",
        value=np.full(TRACE_BUFFER_POINTS, np.nan),
        units="A",
        read_only=True,
        max_length=TRACE_BUFFER_POINTS,
        dtype=ChannelType.DOUBLE,
    )
    trace_num_points = pvproperty(
        name="CP:NumPoints", value=0, dtype=ChannelType.INT, read_only=True
    )
    half_cycle_capacity = pvproperty(
        name="CP:Capacity", value=0.0, units="mAh", read_only=True, precision=9
    )
    half_cycle_reason = pvproperty(
        name="CP:Reason",
        value=HalfCycleEnd.NONE,
        enum_strings=list(HalfCycleEnd),
        dtype=ChannelType.ENUM,
        read_only=True,
    )

    compliance_current = pvproperty(name="ComplianceCurrent", value=0.0, units="A", read_only=True)
    compliance_voltage = pvproperty(name="ComplianceVoltage", value=0.0, units="V", read_only=True)
    sequence = pvproperty(name="SEQ", value=0, dtype=ChannelType.INT, read_only=True)
    status = pvproperty(
        name="STATUS",
        value=Outcome.OK,
        enum_strings=list(Outcome),
        dtype=ChannelType.ENUM,
        read_only=True,
    )
    error_message = message_pv("ERR", "last refusal or fault; empty when none")

    def __init__(
        self,
        *args,
        cell: SimulatedCell,
        compliance_current_A: float = 0.01,
        compliance_voltage_V: float = 10.0,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cell = cell
        self.compliance_current_A = compliance_current_A
        self.compliance_voltage_V = compliance_voltage_V
        self._stop_requested = False
        self._readback_of = {
            self.eis_initial_freq_sp: self.eis_initial_freq,
            self.eis_final_freq_sp: self.eis_final_freq,
            self.eis_points_per_decade_sp: self.eis_points_per_decade,
            self.eis_amplitude_sp: self.eis_amplitude,
            self.cp_current_sp: self.cp_current,
            self.cp_upper_sp: self.cp_upper,
            self.cp_lower_sp: self.cp_lower,
            self.cp_duration_sp: self.cp_duration,
            self.cp_capacity_limit_sp: self.cp_capacity_limit,
            self.cp_record_interval_sp: self.cp_record_interval,
            self.ocv_duration_sp: self.ocv_duration,
            self.cell_on_sp: self.cell_on,
            self.technique_sp: self.technique,
        }
        for setpoint in self._readback_of:
            setpoint.putter = self._echo_putter

    async def _echo_putter(self, instance, value):
        """Accept a setpoint and echo it to its readback (caproto has refused one beyond its
        control limits; the refusal is reported in ``ERR``)."""
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        if instance is self.cell_on_sp and value == Switch.ON:
            # The cell is connected by a technique (START), never by itself.
            raise ValueError("the cell is switched on by START, with a technique")
        await self._readback_of[instance].write(value)
        return value

    @compliance_current.startup
    async def compliance_current(self, instance, async_lib):
        self.async_lib = async_lib
        await instance.write(self.compliance_current_A)
        await self.compliance_voltage.write(self.compliance_voltage_V)
        await self.cp_current_sp.write_metadata(
            lower_ctrl_limit=-self.compliance_current_A, upper_ctrl_limit=self.compliance_current_A
        )
        for pv in (self.cp_upper_sp, self.cp_lower_sp):
            await pv.write_metadata(
                lower_ctrl_limit=-self.compliance_voltage_V,
                upper_ctrl_limit=self.compliance_voltage_V,
            )
        low_Hz, high_Hz = FREQUENCY_RANGE_HZ
        for pv in (self.eis_initial_freq_sp, self.eis_final_freq_sp):
            await pv.write_metadata(lower_ctrl_limit=low_Hz, upper_ctrl_limit=high_Hz)
        await self.eis_points_per_decade_sp.write_metadata(lower_ctrl_limit=1, upper_ctrl_limit=50)
        await self.eis_amplitude_sp.write_metadata(lower_ctrl_limit=1e-4, upper_ctrl_limit=0.5)
        for pv in (self.cp_duration_sp, self.cp_record_interval_sp, self.ocv_duration_sp):
            await pv.write_metadata(lower_ctrl_limit=1e-3, upper_ctrl_limit=1e7)
        await self.cp_capacity_limit_sp.write_metadata(lower_ctrl_limit=0.0, upper_ctrl_limit=1e3)
        # ophyd takes a setpoint's limits from its readback PV: publish them on both.
        for setpoint, readback in self._readback_of.items():
            low = getattr(setpoint, "lower_ctrl_limit", 0)
            high = getattr(setpoint, "upper_ctrl_limit", 0)
            if low < high:
                await readback.write_metadata(lower_ctrl_limit=low, upper_ctrl_limit=high)
        await self.voltage.write(self.cell.electrochemistry.open_circuit_voltage_V)

    @stop.putter
    async def stop(self, instance, value):
        if value:
            self._stop_requested = True
            await self._switch_cell(Switch.OFF)
        return 0

    async def _switch_cell(self, on_off: Switch) -> None:
        await self.cell_on_sp.write(on_off, verify_value=False)
        await self.cell_on.write(on_off)
        if on_off == Switch.OFF:
            await self.current.write(0.0)

    @start.putter
    async def start(self, instance, value):
        """Run the selected technique to its end; the put completes when it has ended."""
        if not value:
            return 0
        if self.state.value == TechniqueState.RUNNING:
            await self._finish(Outcome.ERROR, "START refused: a technique is already running")
            return 0
        self._stop_requested = False
        await self.state.write(TechniqueState.RUNNING)
        await self._switch_cell(Switch.ON)
        try:
            technique = self.technique.value
            if technique == Technique.PEIS:
                message = await self._run_eis()
            else:
                message = await self._run_trace(technique)
        except Exception as error:  # publish every fault; never leave the put hanging
            await self._finish(Outcome.ERROR, f"{type(error).__name__}: {error}")
        else:
            await self._finish(Outcome.OK, message)
        return 0

    async def _finish(self, status: str, message: str) -> None:
        await self._switch_cell(Switch.OFF)
        await self.error_message.write(message)
        await self.status.write(status)
        await self.state.write(TechniqueState.STOPPED)
        await self.sequence.write(self.sequence.value + 1)

    async def _run_eis(self) -> str:
        frequency = sweep_frequencies_Hz(
            self.eis_initial_freq.value,
            self.eis_final_freq.value,
            self.eis_points_per_decade.value,
        )
        if frequency.size > MAX_SPECTRUM_POINTS:
            raise ValueError(f"{frequency.size} frequencies > {MAX_SPECTRUM_POINTS}")
        clock = self.cell.clock
        started = clock.now()
        for f in frequency:
            if self._stop_requested:
                return HalfCycleEnd.STOPPED
            await self.frequency.write(f)
            await self.elapsed.write(clock.now() - started)
            await self.async_lib.library.sleep(
                clock.wall_seconds(max(PERIODS_PER_FREQUENCY / f, 0.01))
            )
        z = self.cell.impedance_spectrum(frequency, EIS_NOISE_FRACTION)
        await self.eis_frequency.write(frequency)
        await self.eis_z_real.write(z.real)
        await self.eis_z_imag.write(z.imag)
        await self.eis_num_points.write(frequency.size)
        return ""

    async def _run_trace(self, technique: str) -> str:
        """Galvanostatic half cycle (CP) or rest (OCV), recorded as a trace."""
        if technique == Technique.CP:
            limits = HalfCycleLimits(
                current_A=self.cp_current.value,
                upper_cutoff_V=self.cp_upper.value,
                lower_cutoff_V=self.cp_lower.value,
                max_duration_s=self.cp_duration.value,
                max_capacity_mAh=self.cp_capacity_limit.value or math.inf,
                record_interval_s=self.cp_record_interval.value,
                compliance_voltage_V=self.compliance_voltage_V,
            )
        else:
            limits = HalfCycleLimits(
                current_A=0.0,
                upper_cutoff_V=self.compliance_voltage_V,
                lower_cutoff_V=-self.compliance_voltage_V,
                max_duration_s=self.ocv_duration.value,
                max_capacity_mAh=math.inf,
                record_interval_s=self.ocv_duration.value / (TRACE_BUFFER_POINTS - 2),
            )
        half_cycle = self.cell.half_cycle(limits, TRACE_BUFFER_POINTS)
        await self.half_cycle_reason.write(HalfCycleEnd.NONE)
        await self.current.write(limits.current_A)
        clock = self.cell.clock
        last = clock.now()
        while not half_cycle.done and not self._stop_requested:
            await self.async_lib.library.sleep(TICK_S)
            now = clock.now()
            half_cycle.advance(now - last)
            last = now
            if half_cycle.voltage_V.size:
                await self.voltage.write(half_cycle.voltage_V[-1])
            await self.charge.write(half_cycle.capacity_mAh)
            await self.elapsed.write(half_cycle.elapsed_s)
        reason = (half_cycle.reason if half_cycle.done else None) or HalfCycleEnd.STOPPED
        n = half_cycle.time_s.size
        for pv, values in (
            (self.trace_time, half_cycle.time_s),
            (self.trace_voltage, half_cycle.voltage_V),
            (self.trace_current, half_cycle.current_A),
        ):
            padded = np.full(TRACE_BUFFER_POINTS, np.nan)
            padded[:n] = values
            await pv.write(padded)
        await self.trace_num_points.write(n)
        await self.half_cycle_capacity.write(half_cycle.capacity_mAh)
        await self.half_cycle_reason.write(reason)
        await self.voltage.write(self.cell.electrochemistry.rest(0.0))
        return reason
