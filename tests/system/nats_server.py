"""A NATS server with JetStream for the system tests (Debian's ``nats-server``), on a free
loopback port with its store in a folder of the test's own, so that it can be restarted."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from acq.services.ports import free_tcp_port

#: Wall seconds the server gets to listen.
STARTUP_TIMEOUT_S = 10.0


class NatsServer:
    """``nats-server`` with JetStream on 127.0.0.1, its store in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_tcp_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "nats-server",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
            self.process = None
