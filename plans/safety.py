"""Safe state: whatever ends a plan, the cell current is off and the pressure is held."""

from __future__ import annotations

from collections.abc import Generator

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg

from devices.potentiostat import Potentiostat


def cell_off(potentiostat: Potentiostat) -> Generator[Msg, object, None]:
    """Stop any technique and disconnect the cell (the pressure feedback keeps holding)."""
    yield from bps.abs_set(potentiostat.stop_command, 1, wait=True)


def with_cell_off(plan: Generator[Msg, object, object],
                  potentiostat: Potentiostat) -> Generator[Msg, object, object]:
    """Run ``plan``; switch the cell off when it ends, fails, or is stopped or aborted."""
    return (yield from bpp.finalize_wrapper(plan, cell_off(potentiostat)))
