"""The simulated HDF5 plugin's file: frames and their angles, readable while written (SWMR).

Frames go to ``/entry/data/data`` (N, Y, X) uint16, one frame per chunk (areaDetector's
layout), each written to disk as it arrives by ``H5Dwrite_chunk`` (h5py's
``id.write_direct_chunk``: no chunk cache, no type conversion). Each frame's rotation angle
(deg) is kept in memory and written to `ANGLE_DATASET` at a flush. A flush makes every frame
appended so far visible to SWMR readers (Tiled reading the stream live); it happens once the
oldest frame not yet shown has waited ``flush_interval_s``, when the owner asks (at the end of
an acquisition) and at close, instead of after every frame (a flush per frame, and an angle
written per frame, made small frames several times slower to write than raw h5py;
benchmarks/ct_frames.py measures this writer against raw h5py).

Nothing here imports the rest of the project or EPICS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

#: Dataset of the frames (areaDetector's default layout).
FRAMES_DATASET = "/entry/data/data"
#: NDAttribute dataset of each frame's rotation angle, deg (the encoder position latched at
#: the trigger, as an attributes file would make areaDetector record).
ANGLE_DATASET = "/entry/instrument/NDAttributes/RotationAngle_deg"
#: Chunk length of the angle dataset.
ANGLE_CHUNK = 1024
#: Longest a written frame waits before SWMR readers can see it, s (wall clock).
FLUSH_INTERVAL_S = 0.5


class FrameFile:
    """An open HDF5 file of frames, appended one at a time, flushed by time for SWMR readers.

    Parameters
    ----------
    path
        File to create (truncated if it exists).
    frame_shape
        (rows, columns) of a frame, pixels.
    flush_interval_s
        Longest time, s, between a frame's write and the flush that shows it to readers: the
        next append flushes once it has passed, or the owner's `flush_if_due` (at
        `seconds_to_flush`) when no frame comes.
    clock
        Monotonic wall clock, s (``time.monotonic``; a test may pass its own).
    """

    def __init__(
        self,
        path: Path,
        frame_shape: tuple[int, int],
        flush_interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._file = h5py.File(path, "w", libver="latest")
        self._frames = self._file.create_dataset(
            FRAMES_DATASET,
            shape=(0, *self.frame_shape),
            maxshape=(None, *self.frame_shape),
            dtype=np.uint16,
            chunks=(1, *self.frame_shape),
        )
        self._angles = self._file.create_dataset(
            ANGLE_DATASET, shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(ANGLE_CHUNK,)
        )
        self._angles.attrs["units"] = "deg"
        self._file.swmr_mode = True
        self._pending_angles_deg: list[float] = []
        #: Frames flushed, i.e. visible to SWMR readers.
        self.visible = 0
        self._pending_since = 0.0  # when the oldest frame not yet flushed was written

    @property
    def written(self) -> int:
        """Frames appended so far (flushed or not)."""
        return self.visible + len(self._pending_angles_deg)

    def append(self, frame: np.ndarray, angle_deg: float) -> bool:
        """Write one frame (its chunk straight to the file) and keep its angle, deg.

        Returns
        -------
        bool
            Whether this append flushed (the oldest frame not yet flushed was written
            `flush_interval_s` ago or more).
        """
        if frame.shape != self.frame_shape:
            raise ValueError(f"frame of shape {frame.shape}, the file's are {self.frame_shape}")
        index = self.written
        if not self._pending_angles_deg:
            self._pending_since = self._clock()
        self._frames.resize(index + 1, axis=0)
        self._frames.id.write_direct_chunk(
            (index, 0, 0), np.ascontiguousarray(frame, dtype=np.uint16)
        )
        self._pending_angles_deg.append(float(angle_deg))
        return self.flush_if_due()

    def seconds_to_flush(self) -> float | None:
        """Seconds until the oldest frame not yet flushed is due (≤ 0: now); None if all are
        flushed."""
        if not self._pending_angles_deg:
            return None
        return self._pending_since + self.flush_interval_s - self._clock()

    def flush_if_due(self) -> bool:
        """Flush if a frame has waited `flush_interval_s` or more; whether it did."""
        due_in_s = self.seconds_to_flush()
        if due_in_s is not None and due_in_s <= 0:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write the pending angles and show every frame written so far to SWMR readers."""
        count = self.written
        if count > self.visible:
            self._angles.resize(count, axis=0)
            self._angles[self.visible : count] = self._pending_angles_deg
            self._pending_angles_deg.clear()
            self._frames.flush()
            self._angles.flush()
            self.visible = count

    def close(self) -> None:
        """Flush and close the file."""
        self.flush()
        self._file.close()
