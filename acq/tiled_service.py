"""Tiled for a station: an embedded server when the config names none, and the containers.

The embedded server is Tiled's own ``tiled serve catalog`` in a child process: a SQLite catalog,
file and SQL table storage under ``<data_dir>/tiled`` (a writable catalog needs both, or runs
fail with HTTP 500), the detector's frames directory as readable storage (so CT frames written
by the IOC are served as arrays), and an API key for writing and reading.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tiled.client import from_uri
from tiled.client.container import Container
from tiled.structures.core import Spec

from .child_process import log_tail, stop_process
from .config import StationConfig

#: Wall seconds to wait for the embedded server to answer.
STARTUP_TIMEOUT_S = 60.0
#: The spec that makes a container browsable as a catalog of Bluesky runs.
BLUESKY_CATALOG_SPEC = Spec("CatalogOfBlueskyRuns", version="3.0")
#: Containers of a station's Tiled: raw runs and analysis results.
CONTAINERS = ("raw", "analysis")


class EmbeddedTiled:
    """A Tiled server serving ``<data_dir>/tiled`` on loopback (a context manager).

    Parameters
    ----------
    data_dir
        Station data directory; the catalog and its storage live in ``data_dir/tiled``.
    readable_dirs
        Directories the server may read external files from (the detector's frames).
    port
        TCP port on 127.0.0.1; a free one when 0.

    The single-user API key is made once and kept in ``data_dir/tiled/api_key`` (readable by
    the owner only), so a later `acq serve` or `acq run` reaches the same catalog.
    """

    def __init__(self, data_dir: Path, readable_dirs: list[Path], port: int = 0) -> None:
        self.directory = Path(data_dir).resolve() / "tiled"
        self.readable_dirs = [Path(d).resolve() for d in readable_dirs]
        self.api_key = embedded_api_key(Path(data_dir))
        self.port = port or _free_port()
        self.log_path = self.directory / "server.log"
        self._process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        """The server's URL."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The ``tiled serve catalog`` command line."""
        catalog = self.directory / "catalog.db"
        command = [str(Path(sys.executable).with_name("tiled")), "serve", "catalog",
                   str(catalog), "-w", str(self.directory / "files"),
                   "-w", f"sqlite:///{self.directory / 'tables.db'}",
                   "--api-key", self.api_key, "--host", "127.0.0.1", "--port", str(self.port)]
        for directory in self.readable_dirs:
            command += ["-r", str(directory)]
        if not catalog.exists():
            command.append("--init")
        return command

    def start(self) -> None:
        """Start the server and wait until it answers.

        Raises
        ------
        RuntimeError
            If it exits or does not answer within `STARTUP_TIMEOUT_S`, with its log's tail.
        """
        if not _port_is_free(self.port):
            raise RuntimeError(f"cannot serve Tiled on 127.0.0.1:{self.port}: the port is in use "
                               f"(another `acq serve` or demo?); set [tiled] port in the "
                               f"station config")
        (self.directory / "files").mkdir(parents=True, exist_ok=True)
        for directory in self.readable_dirs:
            directory.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self._process = subprocess.Popen(self.command(), stdout=log,
                                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Tiled server exited with code {self._process.returncode}:"
                                   f"\n{log_tail(self.log_path)}")
            try:
                if httpx.get(f"{self.uri}/api/v1/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Tiled server did not answer at {self.uri} within "
                           f"{STARTUP_TIMEOUT_S:.0f} s:\n{log_tail(self.log_path)}")

    def stop(self) -> None:
        """Stop the server."""
        stop_process(self._process)
        self._process = None

    def __enter__(self) -> EmbeddedTiled:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As uvicorn binds: connections of a server just stopped (TIME_WAIT) do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def embedded_api_key(data_dir: Path) -> str:
    """The embedded server's API key under ``data_dir``, made on first use."""
    return kept_secret(Path(data_dir).resolve() / "tiled" / "api_key", 16)


def kept_secret(path: Path, nbytes: int) -> str:
    """The secret kept in ``path`` (owner-only), a random ``nbytes``-byte hex token made on
    first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(nbytes))
    return path.read_text().strip()


def embedded_tiled(config: StationConfig) -> EmbeddedTiled:
    """The embedded server of a station config (frames directory readable)."""
    return EmbeddedTiled(config.station.data_dir, [config.frames_dir], config.tiled.port)


def endpoint(config: StationConfig) -> tuple[str, str]:
    """URI and API key of the config's Tiled: the remote one, or the embedded one's."""
    if config.tiled.uri:
        return config.tiled.uri, config.tiled.api_key
    return (f"http://127.0.0.1:{config.tiled.port}",
            embedded_api_key(config.station.data_dir))


def connect(uri: str, api_key: str | None) -> Container:
    """A client of the Tiled server at ``uri`` with the station containers present.

    Creates ``raw`` and ``analysis`` (spec ``CatalogOfBlueskyRuns``) if they do not exist.
    """
    client = from_uri(uri, api_key=api_key or None)
    for name in CONTAINERS:
        if name not in client:
            client.create_container(name, specs=[BLUESKY_CATALOG_SPEC])
    return client
