"""The queue's HTTP server as a service of its own: ``python -m acq.queue_server.http_server``
(`acq.queue_server.http_server`) in front of the RE Manager's 0MQ control and console-output
sockets, with its single-user API key.

It keeps no state: the queue, the history and a running plan are the RE Manager's. So
``acq queue``'s supervisor (`acq.services.supervisor`) restarts it alone when it exits, on the
same port and key, without touching the manager or a plan it runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from ..services.child import STARTUP_TIMEOUT_S, ChildService
from .keys import API_KEY_VARIABLE, ZMQ_PUBLIC_KEY_VARIABLE, without_keys

#: The HTTP server as ``acq queue`` runs it (``python -m``).
HTTP_SERVER_MODULE = "acq.queue_server.http_server"
#: Wall seconds the server gets to answer one status request while it starts.
PROBE_TIMEOUT_S = 1.0


class HTTPServerProcess(ChildService):
    """bluesky-httpserver in front of a RE Manager (a context manager).

    Parameters
    ----------
    log_path
        File its output goes to.
    host, port
        Where it listens.
    zmq_control_addr, zmq_info_addr
        The RE Manager's 0MQ control and console-output addresses.
    zmq_public_key
        The manager's CurveZMQ public key (Z85 text).
    api_key
        The single-user API key clients send (``Authorization: ApiKey …``).
    """

    restart_note = (
        "a request under way got no answer; the RE Manager, its queue and a running plan are "
        "untouched"
    )

    def __init__(
        self,
        log_path: Path,
        *,
        host: str,
        port: int,
        zmq_control_addr: str,
        zmq_info_addr: str,
        zmq_public_key: str,
        api_key: str,
    ) -> None:
        super().__init__("HTTP server", log_path)
        self.host, self.port = host, port
        self.zmq_control_addr, self.zmq_info_addr = zmq_control_addr, zmq_info_addr
        self.zmq_public_key = zmq_public_key
        self.api_key = api_key

    @property
    def uri(self) -> str:
        """The server's URL."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """Its command line (``start-bluesky-httpserver``'s options, no key)."""
        return [
            sys.executable,
            "-m",
            HTTP_SERVER_MODULE,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def environment(self) -> dict[str, str]:
        """Its environment: the API key, the manager's addresses and public key (no other
        key of the queue server)."""
        return {
            **without_keys(os.environ),
            "QSERVER_ZMQ_CONTROL_ADDRESS": self.zmq_control_addr,
            "QSERVER_ZMQ_INFO_ADDRESS": self.zmq_info_addr,
            ZMQ_PUBLIC_KEY_VARIABLE: self.zmq_public_key,
            API_KEY_VARIABLE: self.api_key,
        }

    def start(self) -> None:
        """Start the server and return once it answers a status request with the API key.

        Raises
        ------
        ServiceError
            If it exits or does not answer within `STARTUP_TIMEOUT_S`.
        """
        self.launch(self.command(), self.environment())
        self.wait_until(self.answers, STARTUP_TIMEOUT_S)

    def answers(self) -> bool:
        """Whether ``/api/status`` answers with the API key (within `PROBE_TIMEOUT_S`)."""
        try:
            httpx.get(
                f"{self.uri}/api/status",
                timeout=PROBE_TIMEOUT_S,
                headers={"Authorization": f"ApiKey {self.api_key}"},
            ).raise_for_status()
            return True
        except httpx.HTTPError:
            return False
