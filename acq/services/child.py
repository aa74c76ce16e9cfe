"""The services `acq` runs as child processes, and serving until Ctrl-C.

Every service — the simulated IOCs, the embedded Tiled server, the analysis worker and its
0MQ proxy, the queue server — is a `ChildService`: one or more processes started together,
their output in one log file, ready once a probe answers, stopped in reverse order, and a
context manager that stops them however its block ends. A `acq.services.supervisor.Supervisor`
restarts one whose process exits (`ChildService.exited`, `ChildService.restart`);
`serve_until_interrupted` returns at Ctrl-C or SIGTERM and raises when a supervisor gives up
(`stop_serving`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from ..tethered import tethered_command, tethered_program

#: Wall seconds a child gets to exit after SIGTERM before it is killed.
TERMINATE_TIMEOUT_S = 10.0
#: Wall seconds a service gets to answer its probe once started (imports included, on a
#: loaded machine: a new Tiled catalog has taken 60 s with two cores shared by ten processes;
#: a restart that times out counts against the supervisor's budget).
STARTUP_TIMEOUT_S = 120.0


class ServiceError(RuntimeError):
    """A service that could not be started: its processes are stopped, the message holds the
    tail of its log.

    Parameters
    ----------
    message
        What happened, and the tail of the log.
    summary
        What happened in one line (default: the message's first line).
    """

    def __init__(self, message: str, summary: str | None = None) -> None:
        super().__init__(message)
        self.summary = summary or (message.splitlines() or [""])[0]


class ChildService:
    """Processes started together and stopped together (a context manager).

    Subclasses implement `start`: `launch` each process, then `wait_until` it is ready.

    Parameters
    ----------
    name
        What the service is, for messages (``"simulated IOCs"``, ``"Tiled server"``).
    log_path
        File the processes' output goes to.
    fresh_log
        Empty the log when the service is first started (else append to it); a restart
        always appends, so the log still shows why the service exited.
    """

    #: What a restart means for the service's users, for the supervisor's line.
    restart_note = ""
    #: Why a supervisor must not restart the service (empty: it may): a process of it that
    #: exits then stops the station at once, the supervisor's line saying why.
    no_restart_reason = ""

    def __init__(self, name: str, log_path: Path, *, fresh_log: bool = True) -> None:
        self.name = name
        self.log_path = Path(log_path)
        self.fresh_log = fresh_log
        self._processes: list[subprocess.Popen] = []
        self._log_opened = False

    def start(self) -> None:
        """Start the service and return once it is ready.

        Raises
        ------
        ServiceError
            If it fails to start (see `wait_until`).
        """
        raise NotImplementedError

    def launch(
        self, command: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """Start one process of the service, its output appended to `log_path`."""
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.fresh_log and not self._log_opened:
            self.log_path.write_text("")
        self._log_opened = True
        # Logs are the owner's only: they may show keys, paths and what was measured.
        descriptor = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "a") as log:
            # A process group of its own: a terminal's Ctrl-C reaches this process only, which
            # stops its children in order (a plan aborted first, then the services), instead
            # of every child dying at once.
            process = subprocess.Popen(
                tethered_command(command, os.getpid()),  # ends once this process has gone
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
                process_group=0,
            )
        self._processes.append(process)
        return process

    def wait_until(self, ready: Callable[[], bool], timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Poll ``ready`` until it returns True.

        Raises
        ------
        ServiceError
            If a process of the service exits first, or ``ready`` has not held within
            ``timeout_s``; every process of the service is stopped first.
        """
        deadline = time.monotonic() + timeout_s
        while not ready():
            exited = [process for process in self._processes if process.poll() is not None]
            if exited or time.monotonic() > deadline:
                self.stop()
                why = (
                    f"exited with status {exited[0].returncode}"
                    if exited
                    else f"did not answer within {timeout_s:.0f} s"
                )
                raise ServiceError(
                    f"{self.name} {why}; the end of its log ({self.log_path}):\n{self.log_tail()}",
                    summary=f"{self.name} {why}",
                )
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log."""
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop every process, the last started first."""
        for process in reversed(self._processes):
            stop_process(process)
        self._processes = []

    @property
    def processes(self) -> list[subprocess.Popen]:
        """The service's processes, in the order they were started (empty once stopped)."""
        return list(self._processes)

    def exited(self) -> list[subprocess.Popen]:
        """The service's processes that have exited (their ``returncode`` set)."""
        return [process for process in self._processes if process.poll() is not None]

    def restart(self) -> None:
        """Stop what is left of the service and start it again, appending to its log.

        Raises
        ------
        ServiceError
            If it fails to start (see `start`).
        """
        self.stop()
        self.mark_restart_in_log()
        self.start()

    def mark_restart_in_log(self) -> None:
        """Write a line to the log where a restart begins."""
        with open(self.log_path, "a") as log:
            log.write(f"--- {self.name}: restarted by its supervisor ---\n")

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def stop_process(process: subprocess.Popen) -> None:
    """Terminate ``process`` if it is running; kill it if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=TERMINATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)  # as `acq.cli.main` reads it


def interrupt_on_stop_signals() -> None:
    """Ctrl-C and SIGTERM raise `KeyboardInterrupt`, so the caller's cleanup stops its child
    processes (SIGTERM's default would end this process and leave them running; SIGINT is
    re-armed too: a shell that starts a command in the background, ``acq serve &``, has it
    ignored). Call it before the services start."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def ignore_stop_signals() -> None:
    """Ignore further Ctrl-C and SIGTERM: the shutdown under way stops every child in order
    (a second Ctrl-C in it would leave the rest running)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def process_label(process: subprocess.Popen) -> str:
    """A process as messages name it: its module (``python -m``) or program, and its pid."""
    program = tethered_program(process.args)  # type: ignore[arg-type]
    return f"{Path(program[0]).name} (pid {process.pid})"


#: Set when serving must end because a service could not be kept up (`stop_serving`).
_serving_stopped = threading.Event()
_stop_errors: list[ServiceError] = []


def stop_serving(error: ServiceError) -> None:
    """End `serve_until_interrupted` from any thread: it raises ``error`` (a service that
    could not be kept running), so the caller's cleanup stops the others."""
    _stop_errors.append(error)
    _serving_stopped.set()


def withdraw_stop(error: ServiceError) -> bool:
    """Take back what `stop_serving` was given, if `serve_until_interrupted` has not raised
    it yet; whether it had not."""
    if error not in _stop_errors:
        return False
    _stop_errors.remove(error)
    if not _stop_errors:
        _serving_stopped.clear()
    return True


def serve_until_interrupted() -> signal.Signals:
    """Block until Ctrl-C or SIGTERM (a service manager's stop, ``kill``), so the caller's
    cleanup stops its child processes either way (`interrupt_on_stop_signals`); return the
    signal that ended it.

    Raises
    ------
    ServiceError
        Given to `stop_serving` (a supervisor that gave up on a service), at once if it
        was given before this was called.
    """
    interrupt_on_stop_signals()
    try:
        while not _serving_stopped.wait(1.0):
            pass
    except KeyboardInterrupt as interrupt:
        return signal.Signals[str(interrupt) or "SIGINT"]
    error = _stop_errors[0]
    withdraw_stop(error)
    raise error
