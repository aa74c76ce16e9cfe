"""The pressure cell over real Channel Access to the simulated press."""

from __future__ import annotations

import math

import epics
import pytest
from ophyd.utils.errors import LimitError

from acq.beamline import close_devices
from devices.press import PressureCell


def test_set_pressure_holds_within_tolerance(station):
    press = station.press
    status = press.set(25.0)
    status.wait(timeout=30)
    readings = [press.readback.get() for _ in range(5)]
    assert all(abs(r - 25.0) <= press.tolerance_MPa.get() for r in readings)
    assert press.force_N.get() == pytest.approx(25.0 * math.pi * 0.25, rel=0.05)
    assert press.setpoint.get(use_monitor=False) == 25.0


def test_pressure_reading_carries_units_and_limits(station):
    description = station.press.describe()
    assert description["press_pressure_MPa"]["units"] == "MPa"
    assert description["press_force_N"]["units"] == "N"
    low, high = station.press.setpoint.limits
    assert (low, high) == (0.0, station.config.press.rating_MPa)


@pytest.mark.parametrize(
    "bad, error",
    [
        (500.0, LimitError),
        (float("nan"), ValueError),
        (-1.0, ValueError),
        (math.inf, ValueError),
        ("50", ValueError),
    ],
)
def test_bad_setpoint_refused_before_anything_is_written(station, bad, error):
    press = station.press
    press.set(12.0).wait(timeout=30)
    writes = []
    token = press.setpoint.subscribe(lambda value, **kw: writes.append(value), run=False)
    try:
        with pytest.raises(error):
            press.set(bad)
    finally:
        press.setpoint.unsubscribe(token)
    assert writes == []
    assert press.setpoint.get(use_monitor=False) == 12.0


@pytest.mark.parametrize("bad", [900.0, float("nan")])
def test_ioc_refuses_bad_setpoint_written_directly(station, bad):
    """Defence in depth: a client that skips ophyd's checks is refused by the IOC."""
    press = station.press
    press.set(6.0).wait(timeout=30)
    pv = press.setpoint.setpoint_pvname
    epics.caput(pv, bad, wait=True, timeout=5)
    # caproto refuses a value beyond the control limits (NaN included) before the putter
    # runs; the setpoint stays where it was.
    assert epics.caget(pv, use_monitor=False) == 6.0


def test_settling_times_out_with_a_clear_error(station_config, simulated_station):
    press = PressureCell(
        station_config.station.prefix + station_config.press.prefix, name="tight_press"
    )
    try:
        press.wait_for_connection(timeout=10)
        press.tolerance_MPa.put(1e-6)  # tighter than the load cell's noise: can never settle
        press.settle_timeout_s.put(1.0)
        with pytest.raises(TimeoutError, match="did not hold"):
            press.set(10.0).wait(timeout=10)
    finally:
        close_devices([press])


def test_actuator_motor_refuses_travel_beyond_its_limits(station):
    with pytest.raises(LimitError):
        station.press.actuator.set(10.0)
