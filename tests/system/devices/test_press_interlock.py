"""The simulated press's interlock and refusals, over real Channel Access, driven as a stray
client would (pyepics' caput, skipping every check ophyd makes)."""

from __future__ import annotations

import time

import epics
import pytest

from conventions.pv_states import Switch
from devices.press import PressureRefused
from tests.system.messages import read_message, read_severity

#: Wall seconds given to the simulated press to react (generous: the host is shared).
SETTLE_S = 10.0


def _press_pv(station, suffix: str) -> str:
    return station.config.station.prefix + station.config.press.prefix + suffix


def _get(station, suffix: str, **kwargs):
    return epics.caget(_press_pv(station, suffix), use_monitor=False, timeout=5, **kwargs)


def _wait_for(predicate, timeout_s: float = SETTLE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture
def rearmed(station):
    """Leave the press as the other tests expect it: interlock re-armed, feedback holding."""
    yield station
    epics.caput(_press_pv(station, "InterlockReset"), 1, wait=True, timeout=5)
    station.press.set(5.0).wait(timeout=30)


def _max_pressure_while(station, seconds: float) -> float:
    readings = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readings.append(_get(station, "Pressure"))
        time.sleep(0.02)
    return max(readings)


def test_actuator_driven_with_feedback_off_trips_within_the_rating(rearmed):
    station = rearmed
    rating = station.config.press.rating_MPa
    station.press.set(20.0).wait(timeout=30)
    epics.caput(_press_pv(station, "fb.FBON"), Switch.OFF, wait=True, timeout=5)
    # The 799.5 MPa finding: the actuator's full travel would load the stack 5 times over.
    epics.caput(_press_pv(station, "m1"), 3.0, wait=True, timeout=5)
    _wait_for(lambda: _get(station, "Interlock", as_string=True) == "Tripped")
    assert _max_pressure_while(station, 1.0) <= rating * 1.001  # the load cell's noise
    message = read_message(_press_pv(station, "ErrorMsg"))
    assert "interlock tripped" in message and "feedback off" in message
    assert "InterlockReset" in message
    for suffix in ("Pressure", "Force", "Interlock"):
        assert read_severity(_press_pv(station, suffix)) == 2, suffix  # MAJOR
    # Backed off below the limit, feedback off, and not re-armed by a put of FBON alone.
    _wait_for(lambda: _get(station, "m1.DMOV") == 1)
    assert _get(station, "Pressure") < 0.95 * rating
    assert _get(station, "fb.FBON", as_string=True) == Switch.OFF
    epics.caput(_press_pv(station, "fb.FBON"), Switch.ON, wait=True, timeout=5)
    assert _get(station, "fb.FBON", as_string=True) == Switch.OFF
    assert "InterlockReset" in read_message(_press_pv(station, "ErrorMsg"))
    # Reset: the interlock re-arms and the press takes a setpoint again.
    epics.caput(_press_pv(station, "InterlockReset"), 1, wait=True, timeout=5)
    assert _get(station, "Interlock", as_string=True) == "Ok"
    assert read_message(_press_pv(station, "ErrorMsg")) == ""
    station.press.set(10.0).wait(timeout=30)


def test_unstable_gain_refused_and_reported(rearmed):
    """The 493 MPa finding: fb.KI=1e6 made the loop oscillate; now refused at the put."""
    station = rearmed
    station.press.set(10.0).wait(timeout=30)
    epics.caput(_press_pv(station, "fb.KI"), 1e6, wait=True, timeout=5)
    assert _get(station, "fb.KI") == 0.5
    message = read_message(_press_pv(station, "ErrorMsg"))
    assert "fb.KI=1000000.0 refused: outside [0, 1]" in message and "oscillates" in message
    station.press.set(30.0).wait(timeout=30)
    assert _max_pressure_while(station, 0.5) <= station.config.press.rating_MPa


def test_feedback_at_the_rating_holds_without_tripping(rearmed):
    """The highest setpoint is reachable: the feedback is clamped below the interlock."""
    station = rearmed
    rating = station.config.press.rating_MPa
    station.press.set(rating).wait(timeout=30)
    assert _get(station, "Interlock", as_string=True) == "Ok"
    assert _max_pressure_while(station, 0.5) <= rating * 1.001


@pytest.mark.parametrize("bad", [900.0, float("nan"), -1.0])
def test_refused_setpoint_says_why(station, bad):
    station.press.set(6.0).wait(timeout=30)
    epics.caput(_press_pv(station, "fb.VAL"), bad, wait=True, timeout=5)
    assert _get(station, "fb.VAL") == 6.0
    message = read_message(_press_pv(station, "ErrorMsg"))
    assert f"fb.VAL={bad!r} refused: outside [0, " in message
    assert "cell rating / load-cell range" in message


def test_a_move_with_the_interlock_tripped_is_refused_at_once_saying_why(rearmed):
    station = rearmed
    press = station.press
    press.set(20.0).wait(timeout=30)
    epics.caput(_press_pv(station, "fb.FBON"), Switch.OFF, wait=True, timeout=5)
    epics.caput(_press_pv(station, "m1"), 3.0, wait=True, timeout=5)
    _wait_for(lambda: _get(station, "Interlock", as_string=True) == "Tripped")
    with pytest.raises(PressureRefused, match=r"interlock is tripped.*InterlockReset"):
        press.set(10.0)
    press.interlock_reset.put(1, wait=True)
    press.set(10.0).wait(timeout=30)
