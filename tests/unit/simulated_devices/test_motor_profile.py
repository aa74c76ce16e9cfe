"""The simulated motor record's trapezoidal move profile (`simulated_devices.motor`)."""

from __future__ import annotations

import numpy as np
import pytest

from simulated_devices.motor import full_speed_s, move_duration_s, travelled


def test_a_long_move_ramps_for_accl_each_way_and_cruises_between():
    # 10 mm at 10 mm/s, ACCL 0.1 s: 0.5 mm each ramp, 9 mm at speed.
    assert move_duration_s(10.0, 10.0, 0.1) == pytest.approx(0.1 + 0.9 + 0.1)
    assert travelled(0.1, 10.0, 10.0, 0.1) == pytest.approx(0.5)
    assert travelled(0.6, 10.0, 10.0, 0.1) == pytest.approx(5.5)
    assert travelled(1.1, 10.0, 10.0, 0.1) == pytest.approx(10.0)
    assert full_speed_s(10.0, 10.0, 0.1) == pytest.approx((0.1, 1.0))


def test_at_full_speed_the_motor_moves_at_velo():
    times = np.linspace(0.2, 0.9, 8)
    positions = [travelled(t, 10.0, 10.0, 0.1) for t in times]
    np.testing.assert_allclose(np.diff(positions), 10.0 * np.diff(times))


def test_a_short_move_never_reaches_full_speed_and_is_symmetric():
    # 0.2 mm at 10 mm/s, ACCL 0.1 s: ramps would need 1 mm; half accelerating, half braking.
    total = move_duration_s(0.2, 10.0, 0.1)
    assert total == pytest.approx(2 * np.sqrt(0.2 * 0.1 / 10.0))
    assert travelled(total / 2, 0.2, 10.0, 0.1) == pytest.approx(0.1)
    start, end = full_speed_s(0.2, 10.0, 0.1)
    assert start == pytest.approx(end) == pytest.approx(total / 2)


def test_the_profile_is_continuous_and_monotonic():
    for distance, velocity, accel in ((10.0, 10.0, 0.1), (0.2, 10.0, 0.1), (3.0, 2.0, 0.0)):
        total = move_duration_s(distance, velocity, accel)
        times = np.linspace(-0.1, total + 0.1, 2001)
        positions = np.array([travelled(t, distance, velocity, accel) for t in times])
        assert positions[0] == 0.0 and positions[-1] == pytest.approx(distance)
        steps = np.diff(positions)
        assert (steps >= -1e-12).all()
        # Never faster than VELO.
        assert (steps <= velocity * (times[1] - times[0]) + 1e-9).all()


def test_without_acceleration_a_move_is_at_velo_throughout():
    assert move_duration_s(-3.0, 2.0, 0.0) == pytest.approx(1.5)
    assert travelled(0.5, -3.0, 2.0, 0.0) == pytest.approx(1.0)
