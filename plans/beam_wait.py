"""A CT waits for the beam: it takes no frame while the storage ring's current is low.

The ring current (`devices.beam_monitor.BeamMonitor`) is below the monitor's
``min_current_mA``: the beam is down. A CT waits until it has been back above it for
``resume_delay_s`` wall seconds, two ways:

- before each flat and step projection, `beam_gate` reads the current and, while it is low,
  waits, recording the wait in the run's ``beam_waits`` stream (an event as it starts and one
  as it ends, each with the current);
- around a fly pass, which cannot wait between frames, bluesky's `SuspendFloor`
  (`SuspendWhenBeamLost`) suspends the run as soon as the current drops, recording it in the
  ``interruptions`` stream; the pass under way is abandoned and flown again from its run-up
  into a new file (`plans.ct.FlyPass`).

A step frame is never taken again by rewinding: a frame the RunEngine took again would be one
more frame in the file than the events refer to, which Tiled then cannot read. So a frame
whose exposure overlaps the moment the beam goes is kept, with the current read after it
(below the floor if the beam is still down): the analysis can tell it. Darks need no beam.

A monitor whose ``min_current_mA`` is 0 waits for nothing and installs nothing (the start
document's ``suspenders`` says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.suspenders import SuspendFloor
from bluesky.utils import MsgGenerator

from conventions import data_keys
from devices.beam_monitor import BeamMonitor
from devices.station_clock import StationClock

from .experiment_time import clocked
from .suspender_trip import TripOnABusyLoop


class SuspendWhenBeamLost(TripOnABusyLoop, SuspendFloor):
    """bluesky's `SuspendFloor` on the ring current, tripping however busy the RunEngine's
    loop is (`plans.suspender_trip`)."""


def beam_suspender(
    beam: BeamMonitor, pre_plan: Callable[[], MsgGenerator[Any] | None] | None = None
) -> SuspendWhenBeamLost | None:
    """The suspender that holds a CT while the beam is down (None if the monitor's threshold
    is 0).

    Parameters
    ----------
    beam
        The ring current and its threshold.
    pre_plan
        Called as the CT suspends; the plan it returns, if any, is run first (a fly pass
        under way is stopped).
    """
    floor_mA = float(beam.min_current_mA.get())
    if floor_mA <= 0:
        return None
    return SuspendWhenBeamLost(
        beam.current_mA,
        suspend_thresh=floor_mA,
        sleep=float(beam.resume_delay_s.get()),
        pre_plan=pre_plan,
        tripped_message=f"the beam is down: ring current below {floor_mA:g} mA",
    )


#: Wall seconds between two reads of the ring current while a CT waits for the beam.
BEAM_POLL_S = 0.2


def beam_gate(beam: BeamMonitor | None, clock: StationClock | None = None) -> MsgGenerator[None]:
    """Before a frame: return at once with the beam up; else wait until the ring current has
    been back at or above the monitor's floor for its ``resume_delay_s``, recording the wait
    in the ``beam_waits`` stream, each event with the ``clock`` (reads and sleeps only:
    nothing moves)."""
    if beam is None:
        return
    floor_mA = float(beam.min_current_mA.get())
    if floor_mA <= 0 or (yield from bps.rd(beam.current_mA)) >= floor_mA:
        return
    yield from bps.trigger_and_read(clocked([beam], clock), name=data_keys.BEAM_WAITS)
    delay_s = float(beam.resume_delay_s.get())
    back_since: float | None = None
    while back_since is None or time.monotonic() - back_since < delay_s:
        yield from bps.sleep(BEAM_POLL_S)
        if (yield from bps.rd(beam.current_mA)) < floor_mA:
            back_since = None
        elif back_since is None:
            back_since = time.monotonic()
    yield from bps.trigger_and_read(clocked([beam], clock), name=data_keys.BEAM_WAITS)


def describe_beam_suspender(beam: BeamMonitor | None) -> list[dict[str, Any]]:
    """What `waiting_for_beam` installs around a fly pass, and how `beam_gate` waits, for the
    start document (``suspenders``)."""
    if beam is None or float(beam.min_current_mA.get()) <= 0:
        return []
    return [
        {
            "suspender": SuspendWhenBeamLost.__name__,
            "signal": beam.current_mA.name,
            "min_current_mA": float(beam.min_current_mA.get()),
            "sleep_s": float(beam.resume_delay_s.get()),
            "around": "fly pass (each flat and step projection waits at beam_gate)",
        }
    ]


def waiting_for_beam(
    plan: MsgGenerator[Any],
    beam: BeamMonitor | None,
    pre_plan: Callable[[], MsgGenerator[Any] | None] | None = None,
) -> MsgGenerator[Any]:
    """Run ``plan`` with the `beam_suspender` installed (as it is without one)."""
    suspender = beam_suspender(beam, pre_plan) if beam is not None else None
    if suspender is None:
        return (yield from plan)
    return (yield from bpp.suspend_wrapper(plan, [suspender]))
