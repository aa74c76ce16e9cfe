"""A suspender trips while the RunEngine's loop is busy (`plans.suspender_trip`): bluesky's
own gives up after 0.1 s and the trip is lost."""

from __future__ import annotations

import threading
import time

import pytest
from bluesky.suspenders import SuspendFloor
from ophyd import Signal

from plans.beam_wait import SuspendWhenBeamLost
from plans.pressure_hold import SuspendWhenStackPressureLost


def _busy(RE, seconds: float) -> threading.Event:
    """Keep the RunEngine's loop busy for ``seconds``; set once it is."""
    started = threading.Event()

    def block() -> None:
        started.set()
        time.sleep(seconds)

    RE.loop.call_soon_threadsafe(block)
    started.wait(5)
    return started


@pytest.mark.parametrize("kind", [SuspendFloor, SuspendWhenBeamLost])
def test_a_trip_while_the_loop_is_busy_is_kept(RE, kind):
    current = Signal(name="beam_current_mA", value=400.0)
    suspender = kind(current, suspend_thresh=10.0)
    suspender.install(RE)
    _busy(RE, 0.5)
    current.put(0.0)  # the monitor delivers it in this thread, as ophyd's would
    tripped = suspender._ev is not None
    suspender.remove()
    # bluesky's own loses the trip; the station's keeps it.
    assert tripped is (kind is SuspendWhenBeamLost)


def test_the_pressure_suspender_trips_on_a_busy_loop_too(RE, fake_station):
    press = fake_station.press
    press.readback.sim_put(10.0)
    press.force_N.sim_put(10.0 * press.area_mm2.get())
    suspender = SuspendWhenStackPressureLost(press, 10.0, 1.0, 0.5)
    suspender.install(RE)
    _busy(RE, 0.5)
    press.readback.sim_put(3.0)
    tripped = suspender._ev is not None
    suspender.remove()
    assert tripped
