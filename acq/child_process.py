"""Helpers for the services `acq` runs as child processes (simulated IOCs, Tiled)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

#: Wall seconds a child gets to exit after SIGTERM before it is killed.
TERMINATE_TIMEOUT_S = 10.0


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a child's log file (for error messages)."""
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(process: subprocess.Popen | None) -> None:
    """Terminate ``process`` if it is running; kill it if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=TERMINATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def serve_until_interrupted() -> None:
    """Block until Ctrl-C or SIGTERM (a service manager's stop, ``kill``), so the caller's
    cleanup stops its child processes either way. SIGINT is re-armed too: a shell that
    starts a command in the background (``acq serve &``) has it ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        return
