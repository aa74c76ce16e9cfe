"""The pressure cell on ophyd's fake signals: refusals before anything is written, settling
within tolerance for the dwell (readings and timer), the settle timeout, stop and release."""

from __future__ import annotations

import math
import re
import time

import pytest
from ophyd.utils.errors import LimitError

from conventions import data_keys
from conventions.pv_states import Switch
from devices.press import PressureCell, PressureRefused


@pytest.fixture
def press(fake_station) -> PressureCell:
    press = fake_station.press
    press.dwell_s.put(0.2)
    press.settle_timeout_s.put(5.0)
    press.readback.sim_put(0.0)
    return press


def test_readings_carry_the_keys_the_analysis_reads(press):
    assert {data_keys.PRESS_PRESSURE, data_keys.PRESS_SETPOINT, data_keys.PRESS_FORCE} <= set(
        press.describe()
    )
    assert press.hints["fields"][0] == data_keys.PRESS_PRESSURE
    assert "press_done" not in press.describe()


@pytest.mark.parametrize(
    "bad, error",
    [
        (500.0, LimitError),
        (math.nan, ValueError),
        (-1.0, ValueError),
        (math.inf, ValueError),
        ("50", ValueError),
        (True, ValueError),
    ],
)
def test_a_bad_setpoint_is_refused_before_anything_is_written(press, bad, error):
    written = []
    press.setpoint.subscribe(lambda value, **kwargs: written.append(value), run=False)
    with pytest.raises(error):
        press.set(bad)
    assert written == []


def test_the_move_finishes_once_the_pressure_has_held_for_the_dwell(press):
    status = press.set(25.0)
    assert press.setpoint.get() == 25.0 and not status.done
    press.readback.sim_put(24.8)  # within the 0.5 MPa tolerance: the dwell starts
    time.sleep(0.1)
    press.readback.sim_put(26.0)  # out again: it restarts
    time.sleep(0.15)
    assert not status.done
    press.readback.sim_put(25.1)
    status.wait(2.0)  # the timer ends the dwell: no further reading needed
    assert status.success


def test_the_feedback_is_switched_on_first(press):
    press.feedback.sim_put(Switch.OFF)
    press.set(10.0)
    assert press.feedback.get() == Switch.ON


def test_a_setpoint_the_ioc_does_not_take_is_an_error_naming_its_message(press):
    press.setpoint.sim_set_putter(lambda value: None)  # the IOC keeps its old setpoint
    press.error_message.sim_put("setpoint refused: interlock")
    with pytest.raises(PressureRefused, match="interlock"):
        press.set(10.0)


def test_a_pressure_that_never_holds_fails_saying_so(press):
    press.settle_timeout_s.put(0.3)
    status = press.set(10.0)
    with pytest.raises(TimeoutError, match=re.escape("did not hold within ±0.5 MPa of 10.0 MPa")):
        status.wait(2.0)


def test_stop_only_stops_waiting(press):
    status = press.set(10.0)
    actuator_stops = []
    press.actuator.motor_stop.subscribe(
        lambda value, **kw: actuator_stops.append(value), run=False
    )
    press.stop()
    with pytest.raises(RuntimeError, match=re.escape("keeps holding 10.0 MPa")):
        status.wait(1.0)
    assert actuator_stops == [] and press.feedback.get() == Switch.ON


def test_release_lets_the_pressure_go(press):
    press.release()
    assert press.release_command.get() == 1


def test_progress_is_reported_as_for_a_motor(press):
    status = press.set(20.0)
    heard: list[dict] = []
    status.watch(lambda **update: heard.append(update))
    press.readback.sim_put(10.0)
    press.readback.sim_put(19.9)
    status.wait(2.0)
    moving = [update for update in heard if "target" in update]  # then a last "done"
    assert [update["current"] for update in moving] == [10.0, 19.9]
    assert moving[0]["unit"] == "MPa" and moving[-1]["target"] == 20.0
    assert moving[0]["fraction"] == pytest.approx(0.5)
    assert heard[-1]["fraction"] == 0.0


def test_a_late_monitor_of_the_old_setpoint_does_not_end_the_move_there(press):
    press.readback.sim_put(6.0)
    press.setpoint.sim_put(6.0)
    status = press.set(40.0)
    press.setpoint.sim_put(6.0)  # an update of the old value, arriving after the put
    press.readback.sim_put(6.01)  # the pressure still where it was
    time.sleep(0.3)
    assert not status.done
    press.readback.sim_put(39.9)
    status.wait(2.0)
    assert status.success
