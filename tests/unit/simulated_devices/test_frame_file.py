"""The simulated HDF5 plugin's file, read while written by a SWMR reader in another process
(as Tiled reads it): frames appear at the flush after their interval, and all at the end."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from simulated_devices.frame_file import ANGLE_DATASET, FRAMES_DATASET, FrameFile

SHAPE = (6, 10)
#: A SWMR reader in its own process: prints the frames' and the angles' lengths and the sum
#: of the frames it sees.
READER = f"""
import json, sys, h5py
with h5py.File(sys.argv[1], "r", libver="latest", swmr=True) as handle:
    frames, angles = handle["{FRAMES_DATASET}"], handle["{ANGLE_DATASET}"]
    print(json.dumps([len(frames), len(angles), int(frames[()].sum(dtype="int64"))]))
"""


class FakeClock:
    """A monotonic clock moved by hand, s."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def seen_by_reader(path) -> list[int]:
    """[frames, angles, sum of the frames] as a SWMR reader in another process sees them."""
    result = subprocess.run(
        [sys.executable, "-c", READER, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def frame(index: int) -> np.ndarray:
    return np.full(SHAPE, index + 1, dtype=np.uint16)


def test_reader_sees_frames_after_the_flush_interval_and_every_frame_at_close(tmp_path):
    clock, path = FakeClock(), tmp_path / "frames.h5"
    file = FrameFile(path, SHAPE, flush_interval_s=0.5, clock=clock)
    assert file.append(frame(0), 0.0) is False
    clock.now_s = 0.4
    assert file.append(frame(1), 0.1) is False
    assert seen_by_reader(path) == [0, 0, 0]  # written, not yet flushed
    assert (file.written, file.visible) == (2, 0)

    clock.now_s = 0.5  # the first has waited the interval: the next frame flushes all three
    assert file.append(frame(2), 0.2) is True
    assert seen_by_reader(path) == [3, 3, frame(0).sum() + frame(1).sum() + frame(2).sum()]

    assert file.seconds_to_flush() is None  # nothing waits
    clock.now_s = 0.7
    file.append(frame(3), 0.3)
    clock.now_s = 1.0
    assert file.flush_if_due() is False  # it has waited 0.3 s
    assert file.seconds_to_flush() == pytest.approx(0.2)
    clock.now_s = 1.2
    assert file.flush_if_due() is True  # a pause in the frames: shown all the same
    assert seen_by_reader(path)[:2] == [4, 4]

    file.append(frame(4), 0.4)
    file.close()
    with h5py.File(path, "r") as handle:
        frames, angles = handle[FRAMES_DATASET][()], handle[ANGLE_DATASET][()]
        assert handle[FRAMES_DATASET].chunks == (1, *SHAPE)
    np.testing.assert_array_equal(frames, np.stack([frame(i) for i in range(5)]))
    np.testing.assert_array_equal(angles, [0.0, 0.1, 0.2, 0.3, 0.4])


def test_a_frame_of_another_shape_is_refused(tmp_path):
    file = FrameFile(tmp_path / "frames.h5", SHAPE)
    with pytest.raises(ValueError, match="shape"):
        file.append(np.zeros((SHAPE[0], SHAPE[1] + 1), dtype=np.uint16), 0.0)
    file.close()
