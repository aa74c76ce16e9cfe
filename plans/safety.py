"""Safe state: whatever ends a plan, the cell current is off and the pressure is held."""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

from devices.potentiostat import Potentiostat


def cell_off(potentiostat: Potentiostat) -> MsgGenerator[None]:
    """Stop any technique and disconnect the cell (the pressure feedback keeps holding)."""
    yield from bps.abs_set(potentiostat.stop_command, 1, wait=True)


def with_cell_off(plan: MsgGenerator[Any], potentiostat: Potentiostat) -> MsgGenerator[Any]:
    """Run ``plan``; switch the cell off when it ends, fails, or is stopped or aborted."""
    return (yield from bpp.finalize_wrapper(plan, cell_off(potentiostat)))
