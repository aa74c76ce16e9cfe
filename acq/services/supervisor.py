"""Supervision: a service whose process exits is restarted, within a budget.

``acq serve``, ``acq queue`` and ``acq demo`` run their services (simulated IOCs, embedded
Tiled, analysis worker and its 0MQ proxy; under ``acq queue`` also the queue's HTTP server and
its own Redis) under a `Supervisor`, a thread that polls their processes. When one exits, the
supervisor restarts its service on the same ports, catalog and PV prefix and says so in one
line on stderr (which process, its exit status, its log). A service that exits more than
`MAX_RESTARTS` times within `RESTART_WINDOW_S` (or cannot be started again) is given up on:
`acq.services.child.stop_serving` makes `serve_until_interrupted` raise, so the command stops
every other service and exits non-zero with one line; a block that does not serve
(``acq demo``) gets the error when the supervisor's context ends. A service that must not be
restarted at all (`ChildService.no_restart_reason`: the RE Manager's watchdog,
`acq.queue_server.launch`) is given up on the first time it exits.

Written here rather than taken from a process manager (supervisord, systemd): the services
are children of the command that uses them, share its environment (Channel Access ports)
and stop with it, and the supervisor knows what a restart means for each (`restart_note`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from .child import ChildService, ServiceError, process_label, stop_serving, withdraw_stop

#: Restarts a service may have within `RESTART_WINDOW_S` before it is given up on.
MAX_RESTARTS = 3
#: Wall seconds over which `MAX_RESTARTS` are counted.
RESTART_WINDOW_S = 600.0
#: Wall seconds between two looks at the services' processes.
POLL_INTERVAL_S = 0.5


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def exit_description(process: subprocess.Popen) -> str:
    """How a process ended: ``status 3`` or ``status -9 (SIGKILL)``."""
    code = process.returncode
    if code is not None and code < 0:
        try:
            return f"status {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"status {code}"


class Supervisor:
    """Restart a service whose process exited (a context manager running a thread).

    Parameters
    ----------
    services
        What to watch; already started.
    max_restarts, window_s
        A service restarted ``max_restarts`` times within ``window_s`` wall seconds is not
        restarted again: serving stops (`acq.services.child.stop_serving`).
    poll_interval_s
        Wall seconds between two looks at the processes.
    report
        Called with each one-line message (default: stderr).

    Attributes
    ----------
    failure
        The error the supervisor gave up with, or None.
    """

    def __init__(
        self,
        services: Sequence[ChildService],
        *,
        max_restarts: int = MAX_RESTARTS,
        window_s: float = RESTART_WINDOW_S,
        poll_interval_s: float = POLL_INTERVAL_S,
        report: Callable[[str], object] = _stderr_line,
    ) -> None:
        self.services = list(services)
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.poll_interval_s = poll_interval_s
        self.report = report
        self.failure: ServiceError | None = None
        self._restarts: dict[int, deque[float]] = {id(s): deque() for s in self.services}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Joined before the services stop (they were entered first): a restart under way
        # finishes, so no service is started again once it has been stopped.
        self._stopping.set()
        self._thread.join()
        # Raised here unless `serve_until_interrupted` raised it already (or another error
        # ends the block).
        if self.failure is not None and withdraw_stop(self.failure) and error is None:
            raise self.failure

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_interval_s):
            for service in self.services:
                exited = service.exited()
                if exited and not self._restart(service, exited[0]):
                    return

    def _restart(self, service: ChildService, exited: subprocess.Popen) -> bool:
        """Restart ``service`` after ``exited`` ended; False once it is given up on."""
        why = f"{process_label(exited)} exited with {exit_description(exited)}"
        if service.no_restart_reason:
            self._give_up(service, f"{why}: not restarted ({service.no_restart_reason})")
            return False
        recent = self._restarts[id(service)]
        while True:
            now = time.monotonic()
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            if len(recent) >= self.max_restarts:
                self._give_up(
                    service,
                    f"{why}, after {len(recent)} restarts within {self.window_s:.0f} s: given up",
                )
                return False
            recent.append(now)
            try:
                service.restart()
            except ServiceError as error:
                why = f"could not be restarted ({error.summary})"
                continue
            except Exception as error:  # a port taken, a log unwritable: counted the same
                why = f"could not be restarted ({type(error).__name__}: {error})"
                continue
            note = f"; {service.restart_note}" if service.restart_note else ""
            self.report(
                f"acq: {service.name}: {why}; restarted ({len(recent)} of {self.max_restarts} "
                f"restarts allowed within {self.window_s:.0f} s){note}; log {service.log_path}"
            )
            return True

    def _give_up(self, service: ChildService, why: str) -> None:
        """Stop serving (`stop_serving`): ``service`` is not restarted, for ``why``."""
        self.failure = ServiceError(
            f"{service.name}: {why}, the station stops (log {service.log_path})"
        )
        stop_serving(self.failure)
