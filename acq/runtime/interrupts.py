"""Ctrl-C and SIGTERM for a command that runs plans unattended (``acq run``).

bluesky's `SigintHandler` suits an interactive session: a first Ctrl-C pauses at the next
checkpoint, which during a 0.01C half cycle is the end of it, ≈100 h away. A command has no
prompt to resume from, so here the first Ctrl-C or SIGTERM pauses the RunEngine at once (the
techniques are Pausable: the cell is switched off, the press keeps holding) and the caller
aborts the run, which closes it with ``exit_status`` "abort" and the signal as its reason.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from bluesky import RunEngine
from bluesky.utils import SigintHandler

#: Exit status of a command stopped by a signal, by the signal's name (128 + its number).
EXIT_STATUS = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


@contextmanager
def pause_on_signals(RE: RunEngine) -> Iterator[list[str]]:
    """Within the block, SIGINT and SIGTERM pause ``RE`` at once (its ``RE(...)`` call then
    raises `bluesky.utils.RunEngineInterrupted`); outside a run they raise
    `KeyboardInterrupt`. Yields the names of the signals received, in order."""
    received: list[str] = []

    def pause(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        if RE.state != "running":
            raise KeyboardInterrupt(received[-1])
        RE.request_pause(defer=False)

    managers = RE.context_managers
    RE.context_managers = [manager for manager in managers if manager is not SigintHandler]
    previous = {number: signal.signal(number, pause) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        RE.context_managers = managers
