"""A station command's Python child, tied to it: once the command that started it has gone
(killed with SIGKILL, say, so that it could stop nothing), the child is sent SIGTERM, so no
IOC, Tiled server, analysis worker or queue manager outlives it and holds its ports.

``python -m acq.tethered PARENT_PID MODULE [ARG ...]`` runs ``python -m MODULE ARG ...`` in
this process (same pid, arguments, exit status) with a thread that checks every
`CHECK_INTERVAL_S` whether this process's parent is still ``PARENT_PID``.
``python -m acq.tethered PARENT_PID --exec PROGRAM [ARG ...]`` runs a program of its own
(``redis-server``) as this process's child instead: the signals this process is sent are
passed on to it, its exit status is this process's, and it is sent SIGTERM once
``PARENT_PID`` has gone. `acq.services.child.ChildService.launch` starts every child so.

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
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

#: How often the child looks for its parent, wall seconds.
CHECK_INTERVAL_S = 0.5
#: The argument that makes the tether run a program rather than a module.
EXEC = "--exec"
#: The signals the tether passes on to a program it runs.
PASSED_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def tethered_command(command: Sequence[str], parent_pid: int) -> list[str]:
    """``command`` tied to ``parent_pid``: ``<python> -m MODULE ...`` run by the tether in
    the same process, any other program (``redis-server``) as the tether's child."""
    command = list(command)
    if len(command) > 2 and command[1] == "-m":
        return [command[0], "-m", __name__, str(parent_pid), *command[2:]]
    return [sys.executable, "-m", __name__, str(parent_pid), EXEC, *command]


def tethered_program(command: Sequence[str]) -> list[str]:
    """The command a tethered command runs: ``[MODULE, ARG ...]`` for a module (as
    ``python -m`` names it), the program's own command line for a program, ``command`` for
    one not tethered."""
    command = [str(arg) for arg in command]
    if len(command) > 3 and command[1:3] == ["-m", __name__]:
        rest = command[4:]
        return rest[1:] if rest[:1] == [EXEC] else rest
    if len(command) > 2 and command[1] == "-m":
        return command[2:]
    return command


def tether_to(parent_pid: int, on_parent_gone: Callable[[], None] | None = None) -> None:
    """From now on, once this process's parent is no longer ``parent_pid``, call
    ``on_parent_gone`` (default: send this process SIGTERM); a thread of its own, also for a
    process started otherwise than by `tethered_command`, such as the queue's RE worker,
    which the RE Manager starts."""
    threading.Thread(
        target=_watch, args=(parent_pid, on_parent_gone), name="tether", daemon=True
    ).start()


def _watch(parent_pid: int, on_parent_gone: Callable[[], None] | None) -> None:
    while os.getppid() == parent_pid:
        time.sleep(CHECK_INTERVAL_S)
    if on_parent_gone is None:
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        on_parent_gone()


def run_program(parent_pid: int, command: Sequence[str]) -> int:
    """Run ``command`` as this process's child until it exits, passing on `PASSED_ON`, and
    sending it SIGTERM once ``parent_pid`` has gone; its exit status (128 + N for a signal N,
    as a shell reports it)."""
    # The handlers go in before the child starts: a signal in between would otherwise end
    # the tether by its default action and leave the program running, unwatched.
    started: list[subprocess.Popen] = []
    early: list[int] = []

    def pass_on(received: int, frame: object) -> None:
        if started:
            started[0].send_signal(received)
        else:
            early.append(received)

    for number in PASSED_ON:
        signal.signal(number, pass_on)
    child = subprocess.Popen(list(command))
    started.append(child)
    for received in early:
        child.send_signal(received)
    tether_to(parent_pid, child.terminate)
    status = child.wait()
    return status if status >= 0 else 128 - status


def main(argv: Sequence[str]) -> None:
    """Run ``MODULE`` as ``__main__`` with ``ARG ...`` (or ``--exec PROGRAM ARG ...``),
    watching for ``PARENT_PID`` to go."""
    parent_pid, module, *arguments = argv
    if module == EXEC:
        sys.exit(run_program(int(parent_pid), arguments))
    tether_to(int(parent_pid))
    sys.argv = [module, *arguments]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
