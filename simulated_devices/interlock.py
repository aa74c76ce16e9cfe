"""The press controller's interlock: the force the stack may never exceed, whatever drives it.

A real press controller trips on its load cell in hardware, within milliseconds, however the
actuator is driven (a move with the feedback off, a gain that makes the loop oscillate, a
setpoint). The simulated actuator can cross any distance in one IOC tick of a fast clock, so
the interlock acts inside the simulated motion instead: the actuator is stopped at the
position where the stack's force reaches the limit (`PressLimits.limit_force_N`), then backed
off to hold below it. Pure: no Channel Access here (`simulated_devices.press` serves it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Where the interlock backs the actuator off to: this fraction of the force limit at most.
HOLD_FRACTION = 0.9
#: Integral gain range, fraction of the error corrected per update: above 1 each update
#: over-corrects, at 2 and above the loop diverges (``fb.KI=1e6`` drove 493 MPa).
INTEGRAL_GAIN_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class PressLimits:
    """What the press may load the stack to.

    Parameters
    ----------
    rating_MPa
        Pressure rating of the cell, MPa.
    load_cell_range_N
        Full scale of the load cell, N.
    area_mm2
        Disc area the force acts on, mm².
    """

    rating_MPa: float
    load_cell_range_N: float
    area_mm2: float

    def __post_init__(self) -> None:
        for name in ("rating_MPa", "load_cell_range_N", "area_mm2"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")

    @property
    def limit_force_N(self) -> float:
        """The force the interlock never lets the stack exceed: the load cell's full scale or
        the rating over the disc area, whichever is lower, N."""
        return min(self.load_cell_range_N, self.rating_MPa * self.area_mm2)

    @property
    def limit_pressure_MPa(self) -> float:
        """`limit_force_N` as a stack pressure, MPa (the highest setpoint the press takes)."""
        return self.limit_force_N / self.area_mm2

    def hold_force_N(self, setpoint_MPa: float) -> float:
        """The force the interlock backs off to after a trip: the last accepted setpoint's,
        but at most `HOLD_FRACTION` of the limit, N."""
        wanted = max(setpoint_MPa, 0.0) * self.area_mm2
        return min(wanted, HOLD_FRACTION * self.limit_force_N)

    def trip_message(self, commanded_mm: float, cause: str) -> str:
        """What ``ErrorMsg`` says when the interlock trips.

        Parameters
        ----------
        commanded_mm
            Where the actuator was being driven, mm.
        cause
            What drove it (e.g. "feedback off", "feedback at KI=0.5").
        """
        limit = (
            f"the load-cell range {self.load_cell_range_N:g} N"
            if self.load_cell_range_N <= self.rating_MPa * self.area_mm2
            else f"the rating {self.rating_MPa:g} MPa"
        )
        return (
            f"interlock tripped: force reached {self.limit_force_N:.1f} N "
            f"({self.limit_pressure_MPa:.1f} MPa, {limit}) with the actuator driven to "
            f"{commanded_mm:.3f} mm ({cause}); actuator stopped and backed off, feedback off; "
            "write 1 to InterlockReset to re-arm"
        )
