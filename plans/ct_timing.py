"""A CT's own overhead: the wall time of its phases and the whole, against its exposure floor.

The floor is every frame's exposure, (darks + flats + projections) × exposure, in wall
seconds (experiment seconds over the station's ``time_scale``): what no acquisition can
beat. A CT records its timing as one event of stream ``ct_timing`` (`record_timing`), not in
its stop document: bluesky's ``close_run`` takes only ``exit_status`` and ``reason`` (bluesky
1.15), and event-model's RunStop schema admits no other key.
"""

from __future__ import annotations

import time

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator
from ophyd import Signal

from conventions import data_keys
from devices.station_clock import StationClock

from .experiment_time import clocked


class PhaseTimer:
    """Wall seconds of consecutive phases, each ended by `end` (monotonic clock).

    A plan's code runs when the RunEngine asks it for its next message, i.e. once every
    message before has been processed (a ``wait`` once its moves are done): the time
    between two `end` calls is the wall time the RunEngine spent on that phase.
    """

    def __init__(self) -> None:
        self._started = self._last = time.monotonic()
        #: Wall seconds of each ended phase, by name, in order.
        self.phases_s: dict[str, float] = {}

    def end(self, phase: str) -> None:
        """End ``phase`` now (the next phase starts)."""
        now = time.monotonic()
        self.phases_s[phase] = self.phases_s.get(phase, 0.0) + now - self._last
        self._last = now

    @property
    def total_s(self) -> float:
        """Wall seconds from the start to the last `end`."""
        return self._last - self._started


def record_timing(
    timer: PhaseTimer, floor_s: float, clock: StationClock | None = None
) -> MsgGenerator[float]:
    """One event in stream ``ct_timing``: ``ct_<phase>_s`` for each phase of ``timer``,
    ``ct_wall_s`` (their sum), ``ct_exposure_floor_s`` and ``ct_overhead_ratio`` (wall ÷
    floor); with the ``clock``, also the experiment time.

    Parameters
    ----------
    timer
        The CT's phases, ended.
    floor_s
        Every frame's exposure, experiment seconds (wall seconds on hardware).
    clock
        The station's clock: its ``time_scale`` turns ``floor_s`` into wall seconds (1
        without a clock).

    Returns
    -------
    float
        The overhead ratio, wall ÷ exposure floor.
    """
    time_scale = 1.0
    if clock is not None:
        time_scale = float((yield from bps.rd(clock.time_scale, default_value=1.0)))
    floor_wall_s = floor_s / time_scale
    ratio = timer.total_s / floor_wall_s
    values = {
        **{f"ct_{phase}_s": seconds for phase, seconds in timer.phases_s.items()},
        "ct_wall_s": timer.total_s,
        "ct_exposure_floor_s": floor_wall_s,
        "ct_overhead_ratio": ratio,
    }
    signals = [Signal(name=name, value=value) for name, value in values.items()]
    yield from bps.trigger_and_read(clocked(signals, clock), name=data_keys.CT_TIMING)
    return ratio
