"""The Redis ``acq queue`` runs for its RE Manager when the config names none.

The RE Manager keeps its queue, history and running item in Redis and reads them back when
it (re)starts; it keeps no copy on disk itself. A Redis that keeps nothing on disk loses the
queue and history when it restarts, so the station's own Redis persists every write to an
append-only file (``appendfsync always``: a queue changes a few times a minute, and an
operation the manager was told succeeded is on disk) under ``<data_dir>/queue/redis``
(owner-only), and listens on 127.0.0.1 only. Under ``acq queue`` it is restarted when it
exits (`acq.queue_server.launch`), on the same port and directory; the manager's Redis client
retries meanwhile (`acq.queue_server.re_manager.REDIS_RETRY`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from ..services.child import ChildService, ServiceError

#: Wall seconds a started Redis gets to answer a ping (it replays its append-only file first).
REDIS_STARTUP_TIMEOUT_S = 60.0


class RedisServer(ChildService):
    """``redis-server`` on 127.0.0.1 with append-only persistence (a context manager).

    Parameters
    ----------
    directory
        Where its append-only file lives (made owner-only); its log is ``redis.log`` beside it.
    port
        TCP port on 127.0.0.1.
    """

    restart_note = (
        "the queue and history come back from its append-only file; the RE Manager's Redis "
        "commands retry meanwhile"
    )

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = Path(directory).resolve()
        super().__init__("Redis", self.directory.parent / "redis.log", fresh_log=False)
        self.port = port

    @property
    def addr(self) -> str:
        """``host:port``, as ``start-re-manager --redis-addr`` takes it."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The ``redis-server`` command line (no secret on it).

        Raises
        ------
        ServiceError
            If ``redis-server`` is not on ``PATH``.
        """
        executable = shutil.which("redis-server")
        if executable is None:
            raise ServiceError(
                "redis-server not found on PATH: install Redis, or name a site Redis in the "
                "config's [queue] redis_addr"
            )
        return [
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--protected-mode",
            "yes",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",  # no RDB snapshots besides the append-only file
            "--daemonize",
            "no",
        ]

    def start(self) -> None:
        """Start Redis and return once it answers (its data replayed).

        Raises
        ------
        ServiceError
            If it exits (port taken, ``redis-server`` missing) or does not answer in time.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        self.launch(self.command())
        self.wait_until(self._answers, REDIS_STARTUP_TIMEOUT_S)

    def _answers(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()
