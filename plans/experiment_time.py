"""Experiment time in every event: the station's clock read with each event's readings.

An event's ``time`` and its readings' timestamps are the wall clock; its
``experiment_time_s`` (`devices.station_clock`) is the experiment clock when it was read,
which a simulated station runs ``time_scale`` times faster (docs/pv_conventions.md, "Time").
Every plan takes the station's ``clock`` and reads it in each event of every stream it makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devices.station_clock import StationClock


def clocked(readers: Sequence[Any], clock: StationClock | None) -> list[Any]:
    """``readers`` with the ``clock`` last (once), for one event's reads (``readers`` as they
    are without a clock)."""
    if clock is None:
        return list(readers)
    return [*(reader for reader in readers if reader is not clock), clock]
