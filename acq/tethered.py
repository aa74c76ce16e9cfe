"""A station command's Python child, tied to it: once the command that started it has gone
(killed with SIGKILL, say, so that it could stop nothing), the child is sent SIGTERM, so no
IOC, Tiled server, analysis worker or queue manager outlives it and holds its ports.

``python -m acq.tethered PARENT_PID MODULE [ARG ...]`` runs ``python -m MODULE ARG ...`` in
this process (same pid, arguments, exit status) with a thread that checks every
`CHECK_INTERVAL_S` whether this process's parent is still ``PARENT_PID``.
`acq.services.child.ChildService.launch` starts every ``python -m`` child so.

Why not Linux's ``PR_SET_PDEATHSIG``: it fires when the parent *thread* that started the
child ends (the supervisor restarts children from a thread of its own), and
`subprocess.Popen`'s ``preexec_fn``, the only way to set it between fork and exec, is not safe
in a process with threads. This module lies outside `acq.services` because every child
imports it first: it imports nothing of the station.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time
from collections.abc import Sequence

#: How often the child looks for its parent, wall seconds.
CHECK_INTERVAL_S = 0.5


def tethered_command(command: Sequence[str], parent_pid: int) -> list[str]:
    """``command`` tied to ``parent_pid`` when it is ``<python> -m MODULE ...``; other
    commands (a program of its own, such as ``redis-server``) as they are."""
    command = list(command)
    if len(command) > 2 and command[1] == "-m":
        return [command[0], "-m", __name__, str(parent_pid), *command[2:]]
    return command


def tether_to(parent_pid: int) -> None:
    """From now on, send this process SIGTERM once its parent is no longer ``parent_pid``
    (a thread of its own; for a process started otherwise than by `tethered_command`, such
    as the queue's RE worker, which the RE Manager starts)."""
    threading.Thread(target=_watch, args=(parent_pid,), name="tether", daemon=True).start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(CHECK_INTERVAL_S)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: Sequence[str]) -> None:
    """Run ``MODULE`` as ``__main__`` with ``ARG ...``, watching for ``PARENT_PID`` to go."""
    parent_pid, module, *arguments = argv
    tether_to(int(parent_pid))
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
