"""Argument checks shared by the plans: each raises ``ValueError`` naming the argument and unit.

Plans call them before their first message, so a bad argument stops the plan before a run
opens, anything moves or the cell is energised.
"""

from __future__ import annotations

import math
from numbers import Integral, Real


def finite(name: str, value: object, unit: str = "") -> float:
    """``value`` as a float, if it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{_in(unit)}, got {value!r}")
    return float(value)


def positive(name: str, value: object, unit: str = "") -> float:
    """``value`` as a float, if it is finite and > 0."""
    number = finite(name, value, unit)
    if number <= 0:
        raise ValueError(f"{name} must be positive{_in(unit)}, got {value!r}")
    return number


def non_negative(name: str, value: object, unit: str = "") -> float:
    """``value`` as a float, if it is finite and ≥ 0."""
    number = finite(name, value, unit)
    if number < 0:
        raise ValueError(f"{name} cannot be negative{_in(unit)}, got {value!r}")
    return number


def count(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int, if it is an integer ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def positive_at_most(name: str, value: object, high: float, unit: str = "") -> float:
    """``value`` if ``0 < value ≤ high``: a wait or exposure with an upper bound, so that a
    typo (1e9 s) is refused instead of hanging a plan for good."""
    number = positive(name, value, unit)
    if number > high:
        raise ValueError(f"{name} = {value}{_unit(unit)} is above its limit {high:g}{_unit(unit)}")
    return number


def within(name: str, value: object, low: float, high: float, unit: str = "") -> float:
    """``value`` if ``low ≤ value ≤ high``."""
    number = finite(name, value, unit)
    if not low <= number <= high:
        raise ValueError(
            f"{name} = {value}{_unit(unit)} is outside the instrument's limits "
            f"[{low}, {high}]{_unit(unit)}"
        )
    return number


def _in(unit: str) -> str:
    return f" (in {unit})" if unit else ""


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""
