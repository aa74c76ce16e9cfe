"""A CT waits for the beam: bluesky's `SuspendFloor` on the storage ring's current.

While the ring current (`devices.beam_monitor.BeamMonitor`) is below the monitor's
``min_current_mA``, the RunEngine suspends the CT, recording the suspension in the run; once
the current has been back above it for ``resume_delay_s`` wall seconds, the CT goes on from
its last checkpoint. `plans.ct` puts one before every dark, flat and step projection, so the
frame under way when the beam went is taken again, and one before a fly pass, which is
stopped and flown again from its run-up into a new file (`fly_pass_interrupted`). A frame
that was taken as the beam went stays in the file but is in no event. The current is read
with every frame of a step scan and around a fly pass, so the analysis can tell.

A monitor whose ``min_current_mA`` is 0 installs nothing (the start document's
``suspenders`` says so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bluesky.preprocessors as bpp
from bluesky.suspenders import SuspendFloor
from bluesky.utils import MsgGenerator

from devices.beam_monitor import BeamMonitor


def beam_suspender(
    beam: BeamMonitor, pre_plan: Callable[[], MsgGenerator[Any] | None] | None = None
) -> SuspendFloor | None:
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
    return SuspendFloor(
        beam.current_mA,
        suspend_thresh=floor_mA,
        sleep=float(beam.resume_delay_s.get()),
        pre_plan=pre_plan,
        tripped_message=f"the beam is down: ring current below {floor_mA:g} mA",
    )


def describe_beam_suspender(beam: BeamMonitor | None) -> list[dict[str, Any]]:
    """What `waiting_for_beam` installs, for the start document (``suspenders``)."""
    if beam is None or float(beam.min_current_mA.get()) <= 0:
        return []
    return [
        {
            "suspender": SuspendFloor.__name__,
            "signal": beam.current_mA.name,
            "min_current_mA": float(beam.min_current_mA.get()),
            "sleep_s": float(beam.resume_delay_s.get()),
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
