"""Techniques held at their stack pressure by bluesky suspenders.

While a technique runs at a stack pressure, a suspender watches the press
(`SuspendWhenStackPressureLost`, a `bluesky.suspenders.SuspendWhenOutsideBand`):

- the load-cell pressure must stay within target ± ``hold_band_MPa`` (not so with the feedback
  switched off by a stray client, a cell that creeps or cracks), and be back within the press's
  ``tolerance_MPa`` of it to resume;
- and agree with force / disc area within ``tolerance_MPa`` (a tare taken under load reads low
  by the tare over the area, and the feedback then presses the cell past its target to make up
  for it).

On a trip the RunEngine switches the cell off (each potentiostat technique pauses so), waits
until the condition has cleared and then the press's ``dwell_s``, and runs the interrupted
technique again from its checkpoint: a half cycle or a spectrum starts again; what came
before it is kept. The suspended interval is marked in the run's ``suspensions`` stream: an
event when the suspender trips (``suspension`` says why) and one when the technique resumes,
each with the press's readings (bluesky's own ``interruptions`` stream records the trip too,
not the resumption). The suspenders are listed in the start document (``suspenders``).

With the press's feedback off when the technique starts, nothing holds the pressure and no
suspender is installed (``suspenders`` is empty; the feedback's state is in the press's
configuration in every descriptor): the technique runs at whatever the stack is at, which
`hold_target` says in a warning of the ``plans`` logger (one line at the terminal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.suspenders import SuspenderBase, SuspendWhenOutsideBand
from bluesky.utils import MsgGenerator
from ophyd import Signal

from conventions import data_keys
from conventions.pv_states import Switch
from devices.press import PressureCell
from devices.station_clock import StationClock

from .experiment_time import clocked
from .suspender_trip import TripOnABusyLoop

logger = logging.getLogger(__name__)


class SuspendWhenStackPressureLost(TripOnABusyLoop, SuspendWhenOutsideBand):
    """bluesky's `SuspendWhenOutsideBand` on the load-cell pressure, that also suspends while
    the pressure disagrees with force / disc area by more than ``tolerance_MPa``, and resumes
    once the pressure is back within ``tolerance_MPa`` of the target (the press's settling
    tolerance, inside the band: a feedback loop coming back does not flap the technique in
    and out at the band's edge). It trips however busy the RunEngine's loop is
    (`plans.suspender_trip`).

    One suspender for both conditions: the RunEngine resumes once the suspender that suspended
    it clears, and does not look again at another one that tripped meanwhile (a tare under
    load first drops the reading out of the band, then the feedback brings it back while the
    stack is pressed too hard).

    Parameters
    ----------
    press
        The press; its ``readback`` is watched, its ``force_N`` compared.
    target_MPa, band_MPa
        The band is ``target_MPa`` ± ``band_MPa``, MPa.
    tolerance_MPa
        Largest |force / area − pressure| trusted, and largest |pressure − target| resumed
        at, MPa.
    **kwargs
        As for `bluesky.suspenders.SuspenderBase` (``sleep``, ``pre_plan``…).
    """

    def __init__(
        self,
        press: PressureCell,
        target_MPa: float,
        band_MPa: float,
        tolerance_MPa: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(press.readback, target_MPa - band_MPa, target_MPa + band_MPa, **kwargs)
        self.press = press
        self.target_MPa = target_MPa
        self.tolerance_MPa = tolerance_MPa
        #: The load cell's force as its monitor last delivered it, N (None: not installed).
        self._force_N: float | None = None
        self._force_token: int | None = None

    def install(self, RE: Any, *, event_type: Any = None) -> None:
        """Watch the force, then the pressure. Each pressure update is compared with the
        force of the same load-cell reading: the IOC posts ``Force`` before ``Pressure``
        (as a calc record fed by the load cell's ai processes after it), and both monitors
        reach the suspender in order on ophyd's one monitor thread. A force read afresh
        instead is newer than a pressure update that waited in the queue, and while the
        feedback presses the stack back the two then differ by the ramp meanwhile: the
        suspender tripped again on a trusted load cell."""
        self._force_token = self.press.force_N.subscribe(self._force_changed, run=True)
        super().install(RE, event_type=event_type)

    def remove(self) -> None:
        super().remove()
        if self._force_token is not None:
            self.press.force_N.unsubscribe(self._force_token)
        self._force_token, self._force_N = None, None

    def _force_changed(self, value: float, **kwargs: Any) -> None:
        self._force_N = float(value)

    def _untrusted(self, pressure_MPa: float) -> bool:
        disagreement = self.press.load_cell_disagreement_MPa(
            force_N=self._force_N, pressure_MPa=pressure_MPa
        )
        return not disagreement <= self.tolerance_MPa

    def _should_suspend(self, value: float) -> bool:
        return super()._should_suspend(value) or self._untrusted(value)

    def _should_resume(self, value: float) -> bool:
        settled = abs(value - self.target_MPa) <= self.tolerance_MPa
        return settled and not self._untrusted(value)

    def _get_justification(self) -> str:
        if not self.tripped:
            return ""
        pressure = self.press.readback.get()
        if not self._untrusted(pressure):
            return super()._get_justification()
        return (
            f"{self.press.readback.name} = {pressure:.2f} MPa disagrees with force / area by "
            f"{self.press.load_cell_disagreement_MPa():.2f} MPa (more than "
            f"±{self.tolerance_MPa} MPa): re-tare the load cell with the stack unloaded"
        )


def check_load_cell(press: PressureCell) -> MsgGenerator[None]:
    """Refuse a load cell whose pressure disagrees with its force over the disc area (reads).

    Raises
    ------
    devices.press.PressureUntrusted
        Naming both readings (before anything is energised).
    """
    press.check_load_cell((yield from bps.rd(press.force_N)), (yield from bps.rd(press.readback)))


def hold_target(press: PressureCell) -> MsgGenerator[float | None]:
    """The pressure a technique is held at: the feedback's setpoint, MPa (None with the
    feedback off, said in a warning), once `check_load_cell` trusts the load cell."""
    yield from check_load_cell(press)
    if (yield from bps.rd(press.feedback)) != Switch.ON:
        pressure_MPa = yield from bps.rd(press.readback)
        logger.warning(
            "%s: feedback off: the pressure (now %.2f MPa) is not held and no suspender "
            "watches it; a pressure_step first holds it",
            press.name,
            pressure_MPa,
        )
        return None
    return float((yield from bps.rd(press.setpoint)))


def _note_suspension(
    readers: Sequence[Any], note: Signal, suspender: SuspenderBase, resumed: bool
) -> MsgGenerator[None]:
    """One ``suspensions`` event: what happened, and ``readers`` (the press, the clock)."""
    text = "resumed" if resumed else f"suspended: {suspender._get_justification()}"
    yield from bps.mv(note, text)
    yield from bps.trigger_and_read([note, *readers], name=data_keys.SUSPENSIONS)


def _marking(readers: Sequence[Any], suspender: Callable[[], SuspenderBase]) -> dict[str, Any]:
    """The ``pre_plan`` and ``post_plan`` that mark a suspender's interval in ``suspensions``,
    reading ``readers`` in each event (``suspender`` returns it: the plans are made before
    it exists)."""
    note = Signal(name=data_keys.SUSPENSION_NOTE, value="", kind="hinted")
    return {
        "pre_plan": lambda: _note_suspension(readers, note, suspender(), resumed=False),
        "post_plan": lambda: _note_suspension(readers, note, suspender(), resumed=True),
    }


def pressure_suspender(
    press: PressureCell, target_MPa: float, clock: StationClock | None = None
) -> SuspenderBase:
    """The suspender that holds a technique at ``target_MPa`` (see the module's docstring);
    its ``suspensions`` events read the press and the ``clock``."""
    band_MPa = press.hold_band_MPa.get()
    suspender = SuspendWhenStackPressureLost(
        press,
        target_MPa,
        band_MPa,
        press.tolerance_MPa.get(),
        sleep=press.dwell_s.get(),
        tripped_message=f"stack pressure outside {target_MPa:g} ± {band_MPa:g} MPa",
        **_marking(clocked([press], clock), lambda: suspender),
    )
    return suspender


def describe_suspenders(
    press: PressureCell | None, target_MPa: float | None
) -> list[dict[str, Any]]:
    """What `holding_pressure` installs, for the start document (``suspenders``)."""
    if press is None or target_MPa is None:
        return []
    band = press.hold_band_MPa.get()
    return [
        {
            "suspender": SuspendWhenStackPressureLost.__name__,
            "signal": press.readback.name,
            "band_MPa": [target_MPa - band, target_MPa + band],
            "load_cell_tolerance_MPa": press.tolerance_MPa.get(),
            "area_mm2": press.area_mm2.get(),
            "sleep_s": press.dwell_s.get(),
        }
    ]


def holding_pressure(
    plan: MsgGenerator[Any],
    press: PressureCell | None,
    target_MPa: float | None,
    clock: StationClock | None = None,
) -> MsgGenerator[Any]:
    """Run ``plan`` with the `pressure_suspender` for ``target_MPa`` installed (as it is
    without a press or a target), its ``suspensions`` events reading the ``clock``."""
    if press is None or target_MPa is None:
        return (yield from plan)
    suspender = pressure_suspender(press, target_MPa, clock)
    return (yield from bpp.suspend_wrapper(plan, [suspender]))


#: `holding_pressure` as a decorator of a run's body, inside its ``run_decorator``: the
#: suspender is installed once the run is open and removed before it closes, so a suspension
#: is always marked inside the run.
held_at = bpp.make_decorator(holding_pressure)


def stack_readers(
    press: PressureCell | None, detectors: Sequence[Any], clock: StationClock | None = None
) -> list[Any]:
    """``detectors`` with the press first and the ``clock`` last (each once), so each event
    records the stack pressure and the experiment time."""
    if press is None:
        return clocked(detectors, clock)
    return clocked([press, *(device for device in detectors if device is not press)], clock)
