"""One measured figure of a benchmark, against its goal, for ``python -m benchmarks``.

Every benchmark module of this folder has ``figures(quick: bool) -> list[Figure]``: it
measures its figures (and their anchors, in the same run) and returns them;
``python -m benchmarks`` (`benchmarks.__main__`) calls each in turn and prints one table.
A module's own ``main()`` (``python benchmarks/<module>.py``) prints its details.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Figure:
    """One row of the benchmark table.

    Parameters
    ----------
    name
        What is measured, e.g. ``"EIS fit, median per spectrum"``.
    value
        The measured value, in ``unit``.
    unit
        ``"×"`` for a ratio, else a unit (``"ms"``, ``"events/s"``, ``"GB"``).
    goal
        The goal's bound, in ``unit``.
    better
        ``"lower"`` when the goal is ``value ≤ goal``, ``"higher"`` when ``value ≥ goal``.
    anchor
        What ``value`` is measured against in the same run (a floor or a peer), or how.
    detail
        A short note: the raw numbers behind a ratio, or why a goal is missed.
    """

    name: str
    value: float
    unit: str
    goal: float
    better: Literal["lower", "higher"]
    anchor: str = ""
    detail: str = ""

    @property
    def met(self) -> bool:
        """Whether the goal is met (a NaN value never meets it)."""
        if math.isnan(self.value):
            return False
        return self.value <= self.goal if self.better == "lower" else self.value >= self.goal

    @property
    def goal_text(self) -> str:
        """The goal as it reads in the issue, e.g. ``"≤ 1.05 ×"``."""
        return f"{'≤' if self.better == 'lower' else '≥'} {self.goal:g} {self.unit}"
