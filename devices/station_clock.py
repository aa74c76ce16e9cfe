"""The station's experiment clock (ophyd v1, pyepics), read in every event as
``experiment_time_s``.

Every PV timestamp, and so every event's ``time`` and its readings' timestamps (Tiled's
``ts_*`` columns), is the wall clock; experiment time is data (docs/pv_conventions.md,
"Time"). A simulated station runs its experiment clock ``time_scale`` times faster than the
wall clock and serves it under ``<prefix>station:``; a hardware station's experiment time is
the wall clock, which `WallClock` reads with no PV, so every event of either carries the same
key.

====================  ==================  =====  ============================================
attribute             PV suffix           unit   meaning
====================  ==================  =====  ============================================
``experiment_time_s`` ``ExperimentTime``  s      the experiment clock when read, s since the
                                                 Unix epoch (data key ``experiment_time_s``)
``time_scale``        ``TimeScale``       1      experiment seconds per wall second (config)
====================  ==================  =====  ============================================
"""

from __future__ import annotations

import time
from typing import Any

from ophyd import Component as Cpt
from ophyd import Device, EpicsSignalRO, Signal, SignalRO

from conventions import data_keys


class StationClock(Device):
    """The experiment clock a simulated station serves (``<prefix>station:``).

    ``ExperimentTime`` is computed by the IOC when read and posts no monitor updates, so it
    is read with a Channel Access get each time (``auto_monitor=False``).
    """

    experiment_time_s = Cpt(EpicsSignalRO, "ExperimentTime", kind="normal", auto_monitor=False)
    time_scale = Cpt(EpicsSignalRO, "TimeScale", kind="config")

    def __init__(self, prefix: str = "", *, name: str, **kwargs: Any) -> None:
        super().__init__(prefix, name=name, **kwargs)
        # One data key for every station and stream, as the analysis reads it.
        self.experiment_time_s.name = data_keys.EXPERIMENT_TIME


class WallClockSignal(SignalRO):
    """The wall clock when read, s since the Unix epoch, stamped with the same time."""

    def get(self, **kwargs: Any) -> float:
        now = time.time()
        self._readback = now
        self._metadata["timestamp"] = now
        return now


class WallClock(StationClock):
    """A hardware station's experiment clock: the wall clock, read with no PV (its
    ``time_scale`` is 1)."""

    experiment_time_s = Cpt(WallClockSignal, kind="normal")
    time_scale = Cpt(Signal, value=1.0, kind="config")
