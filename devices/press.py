"""Stack-pressure cell: a press with a load cell and force feedback (ophyd v1, pyepics).

The press is ophyd's `PVPositionerIsClose` on the feedback setpoint and the load-cell
pressure, with a dwell: ``set(P)`` refuses a bad setpoint before anything is written, puts
the setpoint with completion, re-reads it from the IOC (a refused put is silent over Channel
Access), and its `MoveStatus` finishes once the measured pressure has stayed within
``tolerance_MPa`` of it for ``dwell_s`` — decided on the pressure's monitor updates, with a
timer for a reading that holds still. Progress bars follow the pressure as for a motor.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from ophyd import Component as Cpt
from ophyd import EpicsMotor, EpicsSignal, EpicsSignalRO, PVPositionerIsClose, Signal
from ophyd.signal import InternalSignal
from ophyd.status import MoveStatus
from ophyd.status import wait as status_wait
from ophyd.utils.errors import LimitError

from conventions.pv_states import InterlockState, Switch

#: Timeout of every put and get, wall seconds.
PUT_TIMEOUT_S = 5.0


class PressureRefused(RuntimeError):
    """The IOC did not accept a pressure setpoint."""


class PressureUntrusted(RuntimeError):
    """The load cell's pressure disagrees with its force over the stack's area."""


class PressureCell(PVPositionerIsClose):
    """Press, load cell and feedback of one cell stack.

    ======================  ==================  =====  ==========================================
    attribute               PV suffix           unit   meaning
    ======================  ==================  =====  ==========================================
    ``readback``            ``Pressure``        MPa    stack pressure from the load cell (hinted;
                                                       data key ``<name>_pressure_MPa``)
    ``setpoint``            ``fb.VAL``          MPa    feedback setpoint, control limits = the
                                                       rating and load-cell range (data key
                                                       ``<name>_setpoint_MPa``)
    ``force_N``             ``Force``           N      load-cell force
    ``feedback``            ``fb.FBON``                `Switch` Off/On
    ``actuator``            ``m1``              mm     actuator motor record
    ``rating_MPa``          ``Rating``          MPa    pressure rating of the cell
    ``load_cell_range_N``   ``LoadCellRange``   N      load-cell full scale
    ``tare_N``              ``Tare``            N      tare offset: ``Pressure`` is (force − tare)
                                                       / area
    ``tare_command``        ``TareCmd``                1: tare (only with the stack unloaded)
    ``interlock``           ``Interlock``              `InterlockState`: Tripped by force beyond
                                                       the load cell or pressure beyond the rating
    ``interlock_reset``     ``InterlockReset``         1: re-arm a tripped interlock
    ``error_message``       ``ErrorMsg``               the IOC's last refusal or fault
    ``release_command``     ``Stop``                   1: feedback off, actuator stopped
    ``tolerance_MPa``       (soft)              MPa    |pressure − setpoint| counted as settled
    ``dwell_s``             (soft)              s      how long it must stay settled (wall time)
    ``settle_timeout_s``    (soft)              s      give up settling after this (wall time)
    ``hold_band_MPa``       (soft)              MPa    |pressure − target| a technique tolerates
                                                       while it runs (`plans.pressure_hold`)
    ``area_mm2``            (soft)              mm²    disc area of the stack: force / area is
                                                       what ``Pressure`` must read
    ======================  ==================  =====  ==========================================
    """

    setpoint = Cpt(EpicsSignal, "fb.VAL", kind="normal", put_complete=True)
    done = Cpt(InternalSignal, value=0, kind="omitted")  # the comparator's, kept unread
    readback = Cpt(EpicsSignalRO, "Pressure", kind="hinted")
    force_N = Cpt(EpicsSignalRO, "Force", kind="normal")
    feedback = Cpt(EpicsSignal, "fb.FBON", kind="config", string=True, put_complete=True)
    actuator = Cpt(EpicsMotor, "m1", kind="normal")
    rating_MPa = Cpt(EpicsSignalRO, "Rating", kind="config")
    load_cell_range_N = Cpt(EpicsSignalRO, "LoadCellRange", kind="config")
    tare_N = Cpt(EpicsSignalRO, "Tare", kind="config")
    tare_command = Cpt(EpicsSignal, "TareCmd", kind="omitted", put_complete=True)
    interlock = Cpt(EpicsSignalRO, "Interlock", kind="config", string=True)
    interlock_reset = Cpt(EpicsSignal, "InterlockReset", kind="omitted", put_complete=True)
    error_message = Cpt(EpicsSignalRO, "ErrorMsg", kind="omitted", string=True, auto_monitor=False)
    release_command = Cpt(EpicsSignal, "Stop", kind="omitted", put_complete=True)
    tolerance_MPa = Cpt(Signal, value=0.5, kind="config")
    dwell_s = Cpt(Signal, value=1.0, kind="config")
    settle_timeout_s = Cpt(Signal, value=120.0, kind="config")
    hold_band_MPa = Cpt(Signal, value=1.0, kind="config")
    area_mm2 = Cpt(Signal, value=0.0, kind="config")

    def __init__(self, prefix: str = "", *, name: str, **kwargs: Any) -> None:
        self._lock = threading.RLock()
        self._held_since: float | None = None
        self._dwell_timer: threading.Timer | None = None
        self._settle_timer: threading.Timer | None = None
        self._status: MoveStatus | None = None
        self._moving = False  # from the setpoint's put until the move's status is done
        super().__init__(prefix, name=name, egu="MPa", **kwargs)
        # Data keys with their units, as every run and the analysis read them.
        self.readback.name = f"{name}_pressure_MPa"
        self.setpoint.name = f"{name}_setpoint_MPa"

    # -- done: within tolerance for the dwell -------------------------------------------------
    def done_comparator(self, readback: float, setpoint: float) -> bool:
        """True once |``readback`` − ``setpoint``| ≤ ``tolerance_MPa`` has held for
        ``dwell_s`` (a timer re-checks when the dwell ends, however often the load cell
        updates)."""
        if not abs(readback - setpoint) <= self.tolerance_MPa.get():
            self._held_since = None
            self._cancel(self._dwell_timer)
            return False
        dwell = self.dwell_s.get()
        if self._held_since is None:
            self._held_since = time.monotonic()
            self._dwell_timer = self._start_timer(dwell, self._update_done)
        return time.monotonic() - self._held_since >= dwell

    def _update_done(self) -> None:
        with self._lock:  # readback updates and the dwell timer come from different threads
            super()._update_done()

    def _update_setpoint(self, *args: Any, value: Any, **kwargs: Any) -> None:
        # During a move the target is the setpoint this device put and re-read from the IOC:
        # a monitor update may arrive late with an older value (a first monitor of a device
        # built after the last put did), and must not end the move at the old pressure. A put
        # from elsewhere meanwhile makes the move fail on its settle timeout, saying so.
        with self._lock:
            if self._moving:
                return
            if value != self._last_setpoint:
                self._held_since = None
                super()._update_setpoint(*args, value=value, **kwargs)

    # -- moves ---------------------------------------------------------------------------------
    def check_value(self, pressure_MPa: float) -> None:
        """Raise unless ``pressure_MPa`` is a setpoint the cell may be driven to.

        Raises
        ------
        ValueError
            If it is not a finite number or is negative.
        LimitError
            If it exceeds the setpoint's control limits (cell rating, load-cell range).
        """
        if isinstance(pressure_MPa, bool) or not isinstance(pressure_MPa, (int, float)):
            raise ValueError(
                f"{self.name}: pressure must be a number in MPa, got {pressure_MPa!r}"
            )
        if not math.isfinite(pressure_MPa):
            raise ValueError(f"{self.name}: pressure must be finite, got {pressure_MPa} MPa")
        if pressure_MPa < 0:
            raise ValueError(f"{self.name}: pressure cannot be negative, got {pressure_MPa} MPa")
        low, high = self.setpoint.limits
        if low < high and not low <= pressure_MPa <= high:
            raise LimitError(
                f"{self.name}: {pressure_MPa} MPa outside the cell's limits "
                f"[{low}, {high}] MPa (rating / load-cell range)"
            )

    def load_cell_disagreement_MPa(
        self, force_N: float | None = None, pressure_MPa: float | None = None
    ) -> float:
        """|force / area − pressure|, MPa: how far ``Pressure`` is from what the load cell's
        force says (a tare taken under load offsets it by the tare over the area); NaN while
        ``area_mm2`` is not set.

        Parameters
        ----------
        force_N, pressure_MPa
            The readings to compare, N and MPa (default: the last ones read).
        """
        area = self.area_mm2.get()
        if not area > 0:
            return math.nan
        force = self.force_N.get() if force_N is None else force_N
        pressure = self.readback.get() if pressure_MPa is None else pressure_MPa
        return abs(force / area - pressure)

    def check_load_cell(self, force_N: float, pressure_MPa: float) -> None:
        """Raise unless ``pressure_MPa`` agrees with ``force_N`` / area within
        ``tolerance_MPa``.

        Parameters
        ----------
        force_N, pressure_MPa
            The load cell's readings, N and MPa.

        Raises
        ------
        PressureUntrusted
            Naming both readings (re-tare the load cell with the stack unloaded), or saying
            that ``area_mm2`` is not set.
        """
        area = self.area_mm2.get()
        if not area > 0:
            raise PressureUntrusted(
                f"{self.name}: area_mm2 is not set: the pressure cannot be checked against "
                f"the load cell's force"
            )
        disagreement = self.load_cell_disagreement_MPa(force_N, pressure_MPa)
        if not disagreement <= self.tolerance_MPa.get():
            raise PressureUntrusted(
                f"{self.name}: Pressure reads {pressure_MPa:.2f} MPa but force / area is "
                f"{force_N / area:.2f} MPa ({disagreement:.2f} MPa apart, more than "
                f"±{self.tolerance_MPa.get()} MPa): a tare taken under load? Re-tare with the "
                f"stack unloaded"
            )

    def move(
        self,
        position: float,
        wait: bool = True,
        timeout: float | None = None,
        moved_cb: Any = None,
    ) -> MoveStatus:
        """Drive the stack to ``position`` MPa; the status finishes once it holds there.

        Returns
        -------
        MoveStatus
            Finishes when |pressure − setpoint| ≤ ``tolerance_MPa`` has held for
            ``dwell_s``; fails after ``settle_timeout_s`` (or ``timeout``) saying so.

        Raises
        ------
        ValueError, LimitError
            Before anything is written, for a setpoint `check_value` refuses.
        PressureRefused
            If the IOC did not take the setpoint.
        """
        status = super().move(position, wait=False, moved_cb=moved_cb)
        limit_s = self.settle_timeout_s.get() if timeout is None else timeout
        with self._lock:
            self._status = status
            self._cancel(self._settle_timer)
            timer = self._start_timer(
                limit_s, self._fail_if_unsettled, status, float(position), limit_s
            )
            self._settle_timer = timer
        status.add_callback(lambda finished: self._settled(timer))
        if wait:
            status_wait(status)
        return status

    def _settled(self, timer: threading.Timer) -> None:
        self._cancel(timer)
        with self._lock:
            self._moving = False

    def _setup_move(self, position: float) -> None:
        if self.interlock.get(use_monitor=False, timeout=PUT_TIMEOUT_S) == InterlockState.TRIPPED:
            message = self.error_message.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
            self._done_moving(success=False)
            raise PressureRefused(
                f"{self.name}: the press interlock is tripped ({message or 'no message'}); "
                f"put 1 to {self.interlock_reset.pvname} once the cause is cleared"
            )
        with self._lock:
            self._moving = True
        if self.feedback.get() != Switch.ON:
            self.feedback.put(Switch.ON, wait=True, timeout=PUT_TIMEOUT_S)
        self.setpoint.put(position, wait=True, timeout=PUT_TIMEOUT_S)
        accepted = self.setpoint.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
        if not math.isclose(accepted, position, rel_tol=1e-9, abs_tol=1e-9):
            message = self.error_message.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
            self._moving = False
            self._done_moving(success=False)
            raise PressureRefused(
                f"{self.name}: IOC kept setpoint {accepted} MPa instead of "
                f"{position} MPa: {message or 'no message'}"
            )
        with self._lock:  # settle towards what the IOC holds, whatever its monitor says yet
            self._held_since = None
            super()._update_setpoint(value=accepted)

    def _fail_if_unsettled(self, status: MoveStatus, target: float, limit_s: float) -> None:
        self._fail(
            status,
            TimeoutError(
                f"{self.name}: pressure {self.readback.get():.2f} MPa did not hold within "
                f"±{self.tolerance_MPa.get()} MPa of {target} MPa for {self.dwell_s.get()} s in "
                f"{limit_s} s"
            ),
        )

    def _fail(self, status: MoveStatus, error: Exception) -> None:
        with self._lock:
            if status.done:
                return
            # The status stops listening for the positioner's "done"; it fails with the why.
            self._reset_sub(self._SUB_REQ_DONE)
            status.set_exception(error)

    def stop(self, *, success: bool = False) -> None:
        """Stop waiting for the pressure to settle. Nothing is sent to the IOC: the feedback
        keeps holding the last accepted setpoint (``Device.stop`` would stop the actuator
        motor too, fighting the loop that holds the pressure). `release` lets it go."""
        with self._lock:
            self._cancel(self._settle_timer)
            status = self._status
        if status is not None:
            self._fail(
                status,
                RuntimeError(
                    f"{self.name}: stopped waiting; the feedback keeps holding "
                    f"{self.setpoint.get()} MPa"
                ),
            )

    def release(self) -> None:
        """Feedback off and actuator stopped (the IOC's ``Stop``): pressure is not held."""
        self.stop()
        self.release_command.put(1, wait=True, timeout=PUT_TIMEOUT_S)

    # -- timers --------------------------------------------------------------------------------
    def _start_timer(self, delay_s: float, function: Any, *args: Any) -> threading.Timer:
        timer = threading.Timer(delay_s, function, args)
        timer.daemon = True
        timer.start()
        return timer

    @staticmethod
    def _cancel(timer: threading.Timer | None) -> None:
        if timer is not None:
            timer.cancel()
