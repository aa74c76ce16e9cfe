"""A simulated clock: experiment time runs ``time_scale`` times faster than the wall clock."""

from __future__ import annotations

import time


class SimClock:
    """Experiment time that advances ``time_scale`` × faster than wall time.

    Parameters
    ----------
    time_scale
        Experiment seconds per wall second (1 = real time; 1e5 lets a 100 h half cycle pass
        in about 4 s).
    start_epoch_s
        Experiment time at creation, seconds since the Unix epoch; defaults to now.
    """

    def __init__(self, time_scale: float = 1.0, start_epoch_s: float | None = None) -> None:
        if not time_scale > 0:
            raise ValueError(f"time scale must be positive, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._wall_start = time.monotonic()
        self._epoch_start = time.time() if start_epoch_s is None else float(start_epoch_s)

    def now(self) -> float:
        """Experiment time, seconds since the Unix epoch."""
        return self._epoch_start + (time.monotonic() - self._wall_start) * self.time_scale

    def wall_seconds(self, experiment_seconds: float) -> float:
        """Wall-clock duration of an experiment-time interval, s."""
        return experiment_seconds / self.time_scale
