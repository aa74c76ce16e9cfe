"""The embedded Tiled server: Tiled's own ``tiled serve config`` in a child process.

A SQLite catalog, file and SQL table storage under ``<data_dir>/tiled`` (a writable catalog
needs both, or runs fail with HTTP 500), the detector's frames directory as readable storage
(so CT frames written by the IOC are served as arrays), and an API key for writing and
reading, on loopback. Beyond Tiled's own formats it serves a run as its Bluesky documents
(`BLUESKY_MEDIA_TYPES`), which is what databroker's ``Header.documents()`` and ``events()``
and bluesky-tiled-plugins' ``BlueskyRun.documents()`` ask for (README, "Reading the data with
other clients"); ``tiled serve catalog`` has no option for that, a server config file has.

Both SQLite databases (the catalog and the table storage that holds the events' rows) are
put in write-ahead-log mode once the server answers: in SQLite's default rollback journal a
reader polling a run while TiledWriter appends to it makes either answer HTTP 500 "database is
locked" (the writer's client then retries, slowing it 20× and risking duplicated rows). Tiled
asks for WAL itself when it initialises a catalog, but inside a transaction, where SQLite
ignores it; the table storage it never sets. The mode is kept in the database file.

Tiled's `SimpleTiledServer` serves the same kind of catalog from a thread of the calling
process; here the server is a process of its own, so serving HTTP never competes with the
RunEngine (or the analysis) for the GIL, and its log is a file beside the catalog.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from pathlib import Path

import httpx
import yaml

from ..config import StationConfig
from ..runtime.tiled_client import embedded_api_key
from .child import ChildService, ServiceError
from .ports import free_tcp_port, tcp_port_free

logger = logging.getLogger(__name__)

#: The server's SQLite databases under its directory: the catalog and the table storage.
SQLITE_DATABASES = ("catalog.db", "tables.db")
#: Seconds `write_ahead_logging` waits for the server's connections to let go of a database.
SQLITE_BUSY_TIMEOUT_S = 10.0

#: Exporters beyond Tiled's defaults, by spec: a ``BlueskyRun`` as the sequence of its
#: documents (``{"name": …, "doc": …}`` records, RFC 7464 JSON text sequence), rebuilt from
#: the run's nodes by bluesky-tiled-plugins.
BLUESKY_MEDIA_TYPES = {
    "BlueskyRun": {"application/json-seq": "bluesky_tiled_plugins.exporters:json_seq_exporter"}
}


def tiled_serve_command(config_path: Path, port: int, *options: str) -> list[str]:
    """``tiled serve config`` of ``config_path`` on 127.0.0.1:``port``, with ``options``."""
    return [
        sys.executable,
        "-m",
        "tiled",
        "serve",
        "config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


class EmbeddedTiled(ChildService):
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

    restart_note = "same port and catalog: the runs it holds are kept"

    def __init__(self, data_dir: Path, readable_dirs: list[Path], port: int = 0) -> None:
        self.directory = Path(data_dir).resolve() / "tiled"
        super().__init__("Tiled server", self.directory / "server.log", fresh_log=False)
        self.readable_dirs = [Path(d).resolve() for d in readable_dirs]
        self.api_key = embedded_api_key(Path(data_dir))
        self.port = port or free_tcp_port()

    @property
    def uri(self) -> str:
        """The server's URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        """The server's config file (written by `start`)."""
        return self.directory / "config.yml"

    def server_config(self) -> dict:
        """The server's configuration, as ``tiled serve config`` reads it (the key stays out
        of it: the server reads ``TILED_SINGLE_USER_API_KEY``)."""
        return {
            "catalog": {
                "uri": f"sqlite:///{self.directory / SQLITE_DATABASES[0]}",
                "writable_storage": [
                    str(self.directory / "files"),
                    f"sqlite:///{self.directory / SQLITE_DATABASES[1]}",
                ],
                "readable_storage": [str(directory) for directory in self.readable_dirs],
                # Checking an existing catalog costs a `tiled catalog init` subprocess at
                # every start: only a new one is initialised.
                "init_if_not_exists": not (self.directory / SQLITE_DATABASES[0]).exists(),
            },
            "media_types": BLUESKY_MEDIA_TYPES,
        }

    def command(self) -> list[str]:
        """The ``tiled serve config`` command line."""
        return tiled_serve_command(self.config_path, self.port)

    def start(self) -> None:
        """Start the server and return once it answers.

        Raises
        ------
        ServiceError
            If the port is taken, or the server exits or does not answer (with its log).
        """
        if not tcp_port_free(self.port):
            raise ServiceError(
                f"cannot serve Tiled on 127.0.0.1:{self.port}: the port is in "
                f"use (another `acq serve` or demo?); set [tiled] port in the "
                f"station config"
            )
        (self.directory / "files").mkdir(parents=True, exist_ok=True)
        for directory in self.readable_dirs:
            directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.server_config()))
        # The key goes in the environment, not on the command line (any local user can read
        # that in ps); the server's log, which then shows it, is the owner's only.
        self.launch(self.command(), {**os.environ, "TILED_SINGLE_USER_API_KEY": self.api_key})
        self.wait_until(self._answers)
        # After the server has initialised a new catalog (WAL needs the file to exist).
        for name in SQLITE_DATABASES:
            if (mode := write_ahead_logging(self.directory / name)) != "wal":
                logger.warning(
                    "%s stays in journal mode %r (no WAL on this file system?): a reader "
                    "polling a run may meet 'database is locked'",
                    self.directory / name,
                    mode,
                )

    def _answers(self) -> bool:
        return tiled_answers(self.uri)


def tiled_answers(uri: str) -> bool:
    """Whether the Tiled server at ``uri`` answers its API's root (no key needed)."""
    try:
        return httpx.get(f"{uri}/api/v1/", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def write_ahead_logging(path: Path) -> str:
    """Put the SQLite database ``path`` (made if missing) in write-ahead-log mode, in which
    readers and a writer do not lock each other out; return the journal mode it is in.

    The mode is a property of the file, kept for every connection and later process.
    """
    with sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
    connection.close()
    return mode


def embedded_tiled(config: StationConfig) -> EmbeddedTiled:
    """The embedded server of a station config (frames directory readable)."""
    return EmbeddedTiled(config.station.data_dir, [config.frames_dir], config.tiled.port)
