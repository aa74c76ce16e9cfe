"""``acq queue`` as a user runs it, a subprocess of the test: its 0MQ and HTTP ports free ones
of its own (`acq.services.ports.free_tcp_port`, never the station's defaults), its output in
files the test reads."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from acq.services.ports import free_tcp_port

#: The line ``acq queue`` prints last once it serves.
READY_LINE = "Ctrl-C stops"


@dataclass
class AcqQueue:
    """An ``acq queue`` subprocess and where its RE Manager and HTTP server listen."""

    process: subprocess.Popen
    directory: Path
    zmq_control_port: int
    http_port: int

    @property
    def zmq_control_addr(self) -> str:
        """The RE Manager's 0MQ control address."""
        return f"tcp://127.0.0.1:{self.zmq_control_port}"

    @property
    def http_uri(self) -> str:
        """The HTTP server's URL."""
        return f"http://127.0.0.1:{self.http_port}"

    def stdout(self) -> str:
        """What it printed on stdout so far."""
        return (self.directory / "stdout.txt").read_text()

    def stderr(self) -> str:
        """What it printed on stderr so far."""
        return (self.directory / "stderr.txt").read_text()

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``condition`` every 0.2 s until it holds; fail with ``what`` after
        ``timeout_s`` wall seconds, or at once if ``acq queue`` has exited."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert self.process.poll() is None, (
                f"acq queue exited with {self.process.returncode}:\n{self.stderr()[-3000:]}"
            )
            assert time.monotonic() < deadline, what
            time.sleep(0.2)


@contextlib.contextmanager
def acq_queue(config_path: Path, directory: Path, startup_timeout_s: float) -> Iterator[AcqQueue]:
    """``acq queue --config config_path`` run in ``directory`` (its output in
    ``stdout.txt`` and ``stderr.txt`` there), once it serves (within ``startup_timeout_s``
    wall seconds); killed at the end if it still runs (its children end with it,
    `acq.tethered`)."""
    zmq_control_port, http_port = free_tcp_port(), free_tcp_port()
    options = ["--zmq-control-port", str(zmq_control_port)]
    options += ["--zmq-info-port", str(free_tcp_port())]
    options += ["--http-port", str(http_port)]
    with (
        (directory / "stdout.txt").open("w") as stdout,
        (directory / "stderr.txt").open("w") as stderr,
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "acq.cli", "queue", "--config", str(config_path), *options],
            cwd=directory,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    served = AcqQueue(process, directory, zmq_control_port, http_port)
    try:
        served.wait_for(
            lambda: READY_LINE in served.stdout(), startup_timeout_s, "acq queue did not start"
        )
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
