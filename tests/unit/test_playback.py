"""The playback models on their own: a recording's file round trip, and what the IOCs get."""

from __future__ import annotations

import numpy as np
import pytest

from simulated_devices.physics.clock import SimClock
from simulated_devices.physics.electrochemistry import HalfCycleLimits
from simulated_devices.physics.parameters import CellParameters
from simulated_devices.playback import PlaybackCell
from simulated_devices.recording import Frames, HalfCycleTrace, PressReading, Recording, Spectrum

FREQUENCY_HZ = np.array([1e3, 1e2, 1e1])


@pytest.fixture
def recording() -> Recording:
    frames = np.arange(5 * 2 * 3, dtype=np.uint16).reshape(5, 2, 3)
    return Recording(
        press=(PressReading(setpoint_MPa=25.0, force_N=19.7, pressure_MPa=25.08),),
        spectra=(Spectrum(FREQUENCY_HZ, np.array([3.0, 2.0, 1.0]), np.array([-1.0, -2, -3])),),
        half_cycles=(
            HalfCycleTrace(
                np.array([0.0, 10.0, 20.0]),
                np.array([3.0, 3.5, 3.7]),
                np.full(3, 1e-4),
                5e-4,
                "upper_cutoff",
            ),
        ),
        frames=Frames(
            darks=frames[:1],
            flats=frames[1:2],
            projections=frames[2:],
            angles_deg=np.array([0.0, 90.0, 180.0]),
        ),
    )


@pytest.fixture
def cell(recording) -> PlaybackCell:
    return PlaybackCell(recording, CellParameters(), SimClock())


def _limits(current_A: float) -> HalfCycleLimits:
    return HalfCycleLimits(
        current_A=current_A,
        upper_cutoff_V=3.7,
        lower_cutoff_V=2.5,
        max_duration_s=100.0,
        max_capacity_mAh=np.inf,
        record_interval_s=10.0,
    )


def test_a_recording_comes_back_from_its_file(recording, tmp_path):
    recording.save(tmp_path / "run.h5")
    loaded = Recording.load(tmp_path / "run.h5")
    assert loaded.press == recording.press
    np.testing.assert_array_equal(loaded.spectra[0].z_imag_ohm, recording.spectra[0].z_imag_ohm)
    assert loaded.half_cycles[0].termination_reason == "upper_cutoff"
    np.testing.assert_array_equal(loaded.frames.projections, recording.frames.projections)


def test_the_load_cell_reads_the_recorded_force_once_the_press_is_there(cell):
    area = cell.area_mm2
    assert cell.load_cell_force_N(10.0, 25.0, 0.02) == 10.0  # on its way: the true force
    assert cell.load_cell_force_N(25.0 * area, 25.0, 0.02) == 19.7
    assert cell.load_cell_resolution_MPa > 0.08  # the feedback holds the recorded reading


def test_a_half_cycle_plays_its_trace_back_on_the_clock(cell):
    half = cell.half_cycle(_limits(1e-4), max_points=4096)
    half.advance(12.0)
    assert not half.done and half.voltage_V[-1] == 3.5
    half.advance(100.0)
    assert half.done and half.reason == "upper_cutoff" and half.capacity_mAh == 5e-4
    np.testing.assert_array_equal(half.time_s, [0.0, 10.0, 20.0])
    assert cell.electrochemistry.rest(60.0) == 3.7


def test_requests_the_recording_cannot_answer_are_refused(cell):
    with pytest.raises(ValueError, match="recorded at"):
        cell.half_cycle(_limits(-1e-4), max_points=4096)
    with pytest.raises(ValueError, match="frequencies"):
        cell.impedance_spectrum(FREQUENCY_HZ[:2], 0.005)
    cell.impedance_spectrum(FREQUENCY_HZ, 0.005)
    with pytest.raises(ValueError, match="holds 1 spectra"):
        cell.impedance_spectrum(FREQUENCY_HZ, 0.005)


def test_frames_are_the_recorded_ones(cell, recording):
    np.testing.assert_array_equal(cell.detector.dark(), recording.frames.darks[0])
    nearest = cell.detector.projection(cell.projector().project(95.0))
    np.testing.assert_array_equal(nearest, recording.frames.projections[1])
