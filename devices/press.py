"""Stack-pressure cell: a press with a load cell and force feedback (ophyd v1, pyepics).

``set(pressure_MPa)`` is the apstools ``PVPositionerSoftDone`` pattern plus a dwell: it
refuses a bad setpoint before anything is written, puts the feedback setpoint with completion,
re-reads it from the IOC (a refused put is silent over Channel Access), then completes when the
measured pressure has stayed within tolerance for the dwell time.
"""

from __future__ import annotations

import math
import threading
import time

from ophyd import Component as Cpt
from ophyd import Device, EpicsMotor, EpicsSignal, EpicsSignalRO, Signal
from ophyd.utils.errors import LimitError

from .progress import ProgressStatus

#: Timeout of every put and get, wall seconds.
PUT_TIMEOUT_S = 5.0
#: How often the settling watcher looks at the pressure, wall seconds.
POLL_INTERVAL_S = 0.02


class PressureRefused(RuntimeError):
    """The IOC did not accept a pressure setpoint."""


class PressureCell(Device):
    """Press, load cell and feedback of one cell stack.

    ======================  ==================  =====  ==========================================
    attribute               PV suffix           unit   meaning
    ======================  ==================  =====  ==========================================
    ``pressure_MPa``        ``Pressure``        MPa    stack pressure from the load cell (hinted)
    ``force_N``             ``Force``           N      load-cell force
    ``setpoint_MPa``        ``fb.VAL``          MPa    feedback setpoint (control limits = rating)
    ``feedback``            ``fb.FBON``                feedback Off/On
    ``actuator``            ``m1``              mm     actuator motor record
    ``rating_MPa``          ``Rating``          MPa    pressure rating of the cell
    ``load_cell_range_N``   ``LoadCellRange``   N      load-cell full scale
    ``error_message``       ``ErrorMsg``               the IOC's last refusal or fault
    ``stop_command``        ``Stop``                   1: feedback off, actuator stopped
    ``tolerance_MPa``       (soft)              MPa    |pressure − setpoint| counted as settled
    ``dwell_s``             (soft)              s      how long it must stay settled (wall time)
    ``settle_timeout_s``    (soft)              s      give up settling after this (wall time)
    ======================  ==================  =====  ==========================================
    """

    pressure_MPa = Cpt(EpicsSignalRO, "Pressure", kind="hinted")
    force_N = Cpt(EpicsSignalRO, "Force", kind="normal")
    setpoint_MPa = Cpt(EpicsSignal, "fb.VAL", kind="normal", put_complete=True)
    feedback = Cpt(EpicsSignal, "fb.FBON", kind="config", string=True, put_complete=True)
    actuator = Cpt(EpicsMotor, "m1", kind="normal")
    rating_MPa = Cpt(EpicsSignalRO, "Rating", kind="config")
    load_cell_range_N = Cpt(EpicsSignalRO, "LoadCellRange", kind="config")
    error_message = Cpt(EpicsSignalRO, "ErrorMsg", kind="omitted", string=True,
                        auto_monitor=False)
    stop_command = Cpt(EpicsSignal, "Stop", kind="omitted", put_complete=True)
    tolerance_MPa = Cpt(Signal, value=0.5, kind="config")
    dwell_s = Cpt(Signal, value=1.0, kind="config")
    settle_timeout_s = Cpt(Signal, value=120.0, kind="config")

    def __init__(self, prefix: str = "", *, name: str, **kwargs) -> None:
        super().__init__(prefix, name=name, **kwargs)
        self._settling: threading.Event | None = None

    @property
    def position(self) -> float:
        """Measured stack pressure, MPa."""
        return self.pressure_MPa.get()

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
            raise ValueError(f"{self.name}: pressure must be a number in MPa, "
                             f"got {pressure_MPa!r}")
        if not math.isfinite(pressure_MPa):
            raise ValueError(f"{self.name}: pressure must be finite, got {pressure_MPa} MPa")
        if pressure_MPa < 0:
            raise ValueError(f"{self.name}: pressure cannot be negative, got {pressure_MPa} MPa")
        low, high = self.setpoint_MPa.limits
        if low < high and not low <= pressure_MPa <= high:
            raise LimitError(f"{self.name}: {pressure_MPa} MPa outside the cell's limits "
                             f"[{low}, {high}] MPa (rating / load-cell range)")

    def set(self, pressure_MPa: float) -> ProgressStatus:
        """Drive the stack to ``pressure_MPa`` and complete once it holds there.

        Returns
        -------
        ProgressStatus
            Reports the pressure to progress bars as it changes; finishes when
            |pressure − setpoint| ≤ ``tolerance_MPa`` has held for ``dwell_s``; fails after
            ``settle_timeout_s``.

        Raises
        ------
        ValueError, LimitError
            Before anything is written, for a setpoint `check_value` refuses.
        PressureRefused
            If the IOC did not take the setpoint.
        """
        self.check_value(pressure_MPa)
        target = float(pressure_MPa)
        if self.feedback.get() != "On":
            self.feedback.put("On", wait=True, timeout=PUT_TIMEOUT_S)
        self.setpoint_MPa.put(target, wait=True, timeout=PUT_TIMEOUT_S)
        accepted = self.setpoint_MPa.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
        if not math.isclose(accepted, target, rel_tol=1e-9, abs_tol=1e-9):
            message = self.error_message.get(use_monitor=False, timeout=PUT_TIMEOUT_S)
            raise PressureRefused(f"{self.name}: IOC kept setpoint {accepted} MPa instead of "
                                  f"{target} MPa: {message or 'no message'}")
        status = ProgressStatus(self, initial=self.pressure_MPa.get(), target=target,
                                unit="MPa")
        cancelled = threading.Event()
        self._settling = cancelled
        threading.Thread(target=self._watch_settling, args=(target, status, cancelled),
                         daemon=True, name=f"{self.name}-settle").start()
        return status

    def _watch_settling(self, target: float, status: ProgressStatus,
                        cancelled: threading.Event) -> None:
        tolerance = self.tolerance_MPa.get()
        dwell = self.dwell_s.get()
        deadline = time.monotonic() + self.settle_timeout_s.get()
        settled_since: float | None = None
        while not cancelled.is_set():
            now = time.monotonic()
            pressure = self.pressure_MPa.get()
            status.report(pressure)
            if abs(pressure - target) <= tolerance:
                settled_since = now if settled_since is None else settled_since
                if now - settled_since >= dwell:
                    status.set_finished()
                    return
            else:
                settled_since = None
            if now > deadline:
                status.set_exception(TimeoutError(
                    f"{self.name}: pressure {self.pressure_MPa.get():.2f} MPa did not hold "
                    f"within ±{tolerance} MPa of {target} MPa for {dwell} s in "
                    f"{self.settle_timeout_s.get()} s"))
                return
            time.sleep(POLL_INTERVAL_S)
        status.set_exception(RuntimeError(f"{self.name}: settling to {target} MPa stopped"))

    def stop(self, *, success: bool = False) -> None:
        """Stop waiting; the feedback keeps holding the last accepted setpoint."""
        if self._settling is not None:
            self._settling.set()
        super().stop(success=success)

    def release(self) -> None:
        """Feedback off and actuator stopped (the IOC's ``Stop``): pressure is not held."""
        self.stop()
        self.stop_command.put(1, wait=True, timeout=PUT_TIMEOUT_S)
