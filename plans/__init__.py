"""Bluesky plans of the stack-pressure station.

Every plan checks all its arguments before its first message (nothing moves and the cell is
not energised when an argument is wrong), records its arguments and technique parameters in
the start document, and leaves the cell current off however it ends.
"""

from .ct import ct_scan
from .cycling import critical_current_density, galvanostatic_cycles, lithium_inventory_cycling
from .eis import eis_sweep
from .pressure import pressure_step
from .series import pressure_series

__all__ = [
    "critical_current_density",
    "ct_scan",
    "eis_sweep",
    "galvanostatic_cycles",
    "lithium_inventory_cycling",
    "pressure_series",
    "pressure_step",
]
