"""Potentiostat channel (ophyd v1, pyepics) in the conventions of the BioLogic asyn driver.

Each technique is a triggerable sub-device: ``trigger()`` loads the technique and runs it with a
busy put on ``START`` (completion = the technique's end), then checks the outcome the IOC
published (``SEQ`` must have advanced, ``STATUS`` must be Ok) — a failed put is silent over
Channel Access. Results are read with ``auto_monitor=False``: monitored arrays arrive after the
put completion and would be stale. ``stop()`` stops the technique and switches the cell off.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, EpicsSignal, EpicsSignalRO, Signal
from ophyd.status import DeviceStatus, Status

from conventions.impedance import sweep_frequencies_Hz
from conventions.pv_states import Outcome, Technique

#: Timeout of every put and get, wall seconds.
PUT_TIMEOUT_S = 5.0
#: Added to every technique's expected duration before it counts as hung, wall seconds.
TECHNIQUE_TIMEOUT_MARGIN_S = 30.0


class TechniqueFailed(RuntimeError):
    """The potentiostat reported an error, or no outcome, for a technique."""


def _setpoint(suffix: str, **kwargs) -> Cpt:
    """A ``suffix:SP`` setpoint with its ``suffix`` readback, checked against the IOC's
    control limits before any put (`ophyd.utils.LimitError`)."""
    return Cpt(
        EpicsSignal,
        suffix,
        write_pv=suffix + ":SP",
        put_complete=True,
        limits=True,
        kind=kwargs.pop("kind", "config"),
        **kwargs,
    )


class _Technique(Device):
    """A technique of the parent `Potentiostat`, run by ``trigger()``."""

    technique_name: Technique

    def expected_duration_s(self) -> float:
        """Experiment time the technique should take, s."""
        raise NotImplementedError

    def trigger(self) -> DeviceStatus:
        """Run the technique; the status finishes when its results can be read."""
        pstat: Potentiostat = self.parent
        timeout = self.expected_duration_s() / pstat.time_scale + TECHNIQUE_TIMEOUT_MARGIN_S
        return pstat.run_technique(self.technique_name, timeout)

    def pause(self) -> None:
        """RunEngine pause (Ctrl-C, suspender): stop the technique and switch the cell off.

        Plans put a checkpoint before each technique, so ``RE.resume()`` runs it again.
        """
        self.parent.stop_and_wait()

    def resume(self) -> None:
        """Nothing to restore: the cell stays off until the plan runs a technique again."""


class ImpedanceSweep(_Technique):
    """Potentiostatic EIS (PEIS): one spectrum per trigger.

    ===========================  ==========================  =====  ========================
    attribute                    PV suffix                   unit   meaning
    ===========================  ==========================  =====  ========================
    ``initial_frequency_Hz``     ``T:PEIS:0:InitialFreq``    Hz     first frequency
    ``final_frequency_Hz``       ``T:PEIS:0:FinalFreq``      Hz     last frequency
    ``points_per_decade``        ``T:PEIS:0:PointsPerDecade``       log spacing
    ``amplitude_V``              ``T:PEIS:0:Amplitude``      V      AC amplitude
    ``frequency_Hz``             ``PEIS:Freq``               Hz     result waveform
    ``z_real_ohm``               ``PEIS:ZRe``                Ω      Z′ waveform
    ``z_imag_ohm``               ``PEIS:ZIm``                Ω      Z″ waveform
    ``num_points``               ``PEIS:NumPoints``                 valid points (hinted)
    ===========================  ==========================  =====  ========================
    """

    technique_name = Technique.PEIS
    initial_frequency_Hz = _setpoint("T:PEIS:0:InitialFreq")
    final_frequency_Hz = _setpoint("T:PEIS:0:FinalFreq")
    points_per_decade = _setpoint("T:PEIS:0:PointsPerDecade")
    amplitude_V = _setpoint("T:PEIS:0:Amplitude")
    # Waveforms are read, not hinted: a table cannot show them (`acq` prints a summary line).
    frequency_Hz = Cpt(EpicsSignalRO, "PEIS:Freq", kind="normal", auto_monitor=False)
    z_real_ohm = Cpt(EpicsSignalRO, "PEIS:ZRe", kind="normal", auto_monitor=False)
    z_imag_ohm = Cpt(EpicsSignalRO, "PEIS:ZIm", kind="normal", auto_monitor=False)
    num_points = Cpt(EpicsSignalRO, "PEIS:NumPoints", kind="hinted", auto_monitor=False)

    def frequencies_Hz(self) -> np.ndarray:
        """The sweep's frequencies as configured (log-spaced, both ends included), Hz."""
        return sweep_frequencies_Hz(
            self.initial_frequency_Hz.get(),
            self.final_frequency_Hz.get(),
            self.points_per_decade.get(),
        )

    def expected_duration_s(self) -> float:
        # A few periods per frequency: the low frequencies dominate.
        return float(np.sum(3.0 / self.frequencies_Hz())) + 1.0


class GalvanostaticHalfCycle(_Technique):
    """Constant current (CP) to the first of its limits: one half cycle per trigger.

    ============================  ==========================  =====  ========================
    attribute                     PV suffix                   unit   meaning
    ============================  ==========================  =====  ========================
    ``current_A``                 ``T:CP:0:Current``          A      + charge / plating
    ``upper_cutoff_V``            ``T:CP:0:EMax``             V      upper voltage cut-off
    ``lower_cutoff_V``            ``T:CP:0:EMin``             V      lower voltage cut-off
    ``max_duration_s``            ``T:CP:0:Duration``         s      time limit
    ``max_capacity_mAh``          ``T:CP:0:CapacityLimit``    mAh    capacity limit (0: none)
    ``record_interval_s``         ``T:CP:0:RecordInterval``   s      trace sampling interval
    ``time_s``                    ``CP:Time``                 s      trace (NaN-padded)
    ``voltage_V``                 ``CP:Ewe``                  V      trace (NaN-padded)
    ``trace_current_A``           ``CP:I``                    A      trace (NaN-padded)
    ``num_points``                ``CP:NumPoints``                   valid trace points
    ``capacity_mAh``              ``CP:Capacity``             mAh    charge passed (hinted)
    ``termination_reason``        ``CP:Reason``                      why it ended (hinted)
    ============================  ==========================  =====  ========================

    Times are experiment time: on a simulated station with a time scale they pass faster
    than the wall clock, and the trace holds them as the instrument saw them.
    """

    technique_name = Technique.CP
    current_A = _setpoint("T:CP:0:Current")
    upper_cutoff_V = _setpoint("T:CP:0:EMax")
    lower_cutoff_V = _setpoint("T:CP:0:EMin")
    max_duration_s = _setpoint("T:CP:0:Duration")
    max_capacity_mAh = _setpoint("T:CP:0:CapacityLimit")
    record_interval_s = _setpoint("T:CP:0:RecordInterval")
    time_s = Cpt(EpicsSignalRO, "CP:Time", kind="normal", auto_monitor=False)
    voltage_V = Cpt(EpicsSignalRO, "CP:Ewe", kind="normal", auto_monitor=False)
    trace_current_A = Cpt(EpicsSignalRO, "CP:I", kind="normal", auto_monitor=False)
    num_points = Cpt(EpicsSignalRO, "CP:NumPoints", kind="normal", auto_monitor=False)
    capacity_mAh = Cpt(EpicsSignalRO, "CP:Capacity", kind="hinted", auto_monitor=False)
    termination_reason = Cpt(
        EpicsSignalRO, "CP:Reason", kind="hinted", string=True, auto_monitor=False
    )

    def expected_duration_s(self) -> float:
        return float(self.max_duration_s.get())


class Rest(_Technique):
    """Open circuit (OCV) for a duration, recorded in the same trace PVs as a half cycle."""

    technique_name = Technique.OCV
    duration_s = _setpoint("T:OCV:0:Duration")

    def expected_duration_s(self) -> float:
        return float(self.duration_s.get())


class Potentiostat(Device):
    """One potentiostat channel and the cell wired to it.

    ======================  ======================  =====  ====================================
    attribute               PV suffix               unit   meaning
    ======================  ======================  =====  ====================================
    ``voltage_V``           ``EWE``                 V      live cell voltage (hinted)
    ``current_A``           ``I``                   A      live current
    ``charge_mAh``          ``Q``                   mAh    charge of the running technique
    ``technique_time_s``    ``TIME``                s      experiment time into the technique
    ``cell_on``             ``CELL``/``CELL:SP``           cell connection Off/On
    ``technique``           ``TECH``/``TECH:SP``           loaded technique (OCV, PEIS, CP)
    ``start``               ``START``                      busy put: run the technique
    ``stop_command``        ``STOP``                       stop the technique, cell off
    ``state``               ``STATE``                      Stopped / Running
    ``sequence``            ``SEQ``                        count of finished techniques
    ``outcome``             ``STATUS``                     Ok / Error of the last technique
    ``error_message``       ``ERR``                        message of the last technique
    ``compliance_*``        ``Compliance*``         A, V   output limits
    ``eis``                 ``T:PEIS:…``, ``PEIS:…``       `ImpedanceSweep`
    ``galvanostatic``       ``T:CP:…``, ``CP:…``           `GalvanostaticHalfCycle`
    ``rest``                ``T:OCV:…``                    `Rest`
    ``electrode_area_cm2``  (soft)                  cm²    cell characteristics, as EC-Lab keeps
    ``active_mass_g``       (soft)                  g      them: define current densities,
    ``nominal_capacity_mAh`` (soft)                 mAh    C-rates and specific capacities
    ``cell_type``           (soft)                         ``full`` or ``symmetric``
    ======================  ======================  =====  ====================================

    Parameters
    ----------
    time_scale
        Experiment seconds per wall second of the instrument (1 for hardware); technique
        timeouts are the expected experiment duration divided by it, plus a margin.
    """

    voltage_V = Cpt(EpicsSignalRO, "EWE", kind="hinted")
    current_A = Cpt(EpicsSignalRO, "I", kind="normal")
    charge_mAh = Cpt(EpicsSignalRO, "Q", kind="normal")
    technique_time_s = Cpt(EpicsSignalRO, "TIME", kind="normal")
    cell_on = Cpt(
        EpicsSignal, "CELL", write_pv="CELL:SP", string=True, kind="config", put_complete=True
    )
    technique = Cpt(
        EpicsSignal, "TECH", write_pv="TECH:SP", string=True, kind="config", put_complete=True
    )
    start = Cpt(EpicsSignal, "START", kind="omitted", put_complete=True)
    stop_command = Cpt(EpicsSignal, "STOP", kind="omitted", put_complete=True)
    state = Cpt(EpicsSignalRO, "STATE", kind="omitted", string=True)
    sequence = Cpt(EpicsSignalRO, "SEQ", kind="omitted", auto_monitor=False)
    outcome = Cpt(EpicsSignalRO, "STATUS", kind="omitted", string=True, auto_monitor=False)
    error_message = Cpt(EpicsSignalRO, "ERR", kind="omitted", string=True, auto_monitor=False)
    compliance_current_A = Cpt(EpicsSignalRO, "ComplianceCurrent", kind="config")
    compliance_voltage_V = Cpt(EpicsSignalRO, "ComplianceVoltage", kind="config")

    electrode_area_cm2 = Cpt(Signal, value=0.0, kind="config")
    active_mass_g = Cpt(Signal, value=0.0, kind="config")
    nominal_capacity_mAh = Cpt(Signal, value=0.0, kind="config")
    cell_type = Cpt(Signal, value="full", kind="config")

    eis = Cpt(ImpedanceSweep, "", kind="normal")
    galvanostatic = Cpt(GalvanostaticHalfCycle, "", kind="normal")
    rest = Cpt(Rest, "", kind="normal")

    def __init__(
        self, prefix: str = "", *, name: str, time_scale: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(prefix, name=name, **kwargs)
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = time_scale
        self._lock = threading.Lock()

    def run_technique(self, technique: Technique, timeout_s: float) -> DeviceStatus:
        """Load and run ``technique``; the status fails with the IOC's message on error.

        Parameters
        ----------
        technique
            The technique to run.
        timeout_s
            Wall time after which the technique is stopped and the status fails.

        Raises
        ------
        TechniqueFailed
            If a technique this device started is still running.
        """
        if not self._lock.acquire(blocking=False):
            raise TechniqueFailed(f"{self.name}: a technique is already running")
        try:
            self.technique.put(technique, wait=True, timeout=PUT_TIMEOUT_S)
            before = self.sequence.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
            started: Status = self.start.set(1, timeout=timeout_s)
        except Exception:
            self._lock.release()
            raise
        status = DeviceStatus(self)

        def check_outcome(put_status: Status) -> None:
            try:
                if not put_status.success:
                    self.stop()
                    status.set_exception(
                        TechniqueFailed(
                            f"{self.name}: {technique} did not finish within {timeout_s:.0f} s "
                            f"(wall); stopped, cell off"
                        )
                    )
                    return
                after = self.sequence.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
                outcome = self.outcome.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
                if after == before or outcome != Outcome.OK:
                    message = self.error_message.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
                    status.set_exception(
                        TechniqueFailed(
                            f"{self.name}: {technique} failed: "
                            f"{message or 'the IOC published no outcome'}"
                        )
                    )
                else:
                    status.set_finished()
            except Exception as error:
                status.set_exception(error)
            finally:
                self._lock.release()

        started.add_callback(check_outcome)
        return status

    def stop(self, *, success: bool = False) -> None:
        """Stop any running technique and switch the cell off."""
        self.stop_command.put(1, wait=False)
        super().stop(success=success)

    def stop_and_wait(self, timeout_s: float = PUT_TIMEOUT_S) -> None:
        """`stop`, then wait until the technique has ended and the cell is off (the
        technique's completion has been handled: a new one can start at once).

        Raises
        ------
        TimeoutError
            If the technique is still running after ``timeout_s`` wall seconds.
        """
        self.stop_command.put(1, wait=True, timeout=timeout_s)
        if not self._lock.acquire(timeout=timeout_s):
            raise TimeoutError(f"{self.name}: the technique did not stop in {timeout_s} s")
        self._lock.release()
