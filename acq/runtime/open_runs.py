"""A journal of the runs open in the station's processes, for closing a run whose process died.

bluesky closes a run with its stop document. A process that is killed (SIGKILL, the OOM
killer, a queue environment destroyed mid plan) emits none, and its run would stay open in
Tiled (or in its backup) for ever. `OpenRunJournal`, subscribed by
`acq.runtime.engine.make_run_engine`, keeps ``<data_dir>/open_runs/<uid>.json`` (owner-only)
for each run from its start document on, holding an exclusive `fcntl.flock` on it for as long
as the run is open, and removes it once the run's stop document is written. The kernel releases
the lock when the process ends, however it ends: an entry whose lock can be taken is a run
whose writer is gone, which ``acq recover`` closes (`acq.runtime.recovery`). Only the start and
stop documents cost any I/O.

An entry is written under a name no reader looks at, locked, then renamed into place: no reader
sees an entry unlocked while its writer lives. A reader that takes an entry's lock checks that
the file is still linked (its writer removes it, then releases the lock, as the run closes).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Folder of ``data_dir`` holding an entry for each run open in a process of the station.
OPEN_RUNS_DIRNAME = "open_runs"


def open_runs_directory(data_dir: Path) -> Path:
    """Where a station with data under ``data_dir`` keeps its journal of open runs."""
    return Path(data_dir).resolve() / OPEN_RUNS_DIRNAME


@dataclass(frozen=True)
class OpenRun:
    """A journal entry: a run a process opened, and that process."""

    uid: str
    scan_id: int | None
    plan_name: str | None
    #: The process writing the run: its id and its host's name.
    pid: int
    hostname: str
    #: The start document's time, s since the epoch.
    start_time: float

    @property
    def writer(self) -> str:
        """The writing process, in words: ``pid 1234 on host``."""
        return f"pid {self.pid} on {self.hostname}"


@dataclass(frozen=True)
class JournalEntry:
    """An entry of the journal as a reader finds it."""

    path: Path
    run: OpenRun
    #: Whether the process that opened the run holds the entry's lock (the run still open).
    writer_alive: bool


class OpenRunJournal:
    """A document callback keeping an entry under ``directory`` for each run open in this
    process: a start document creates it (locked), a stop document removes it.

    Parameters
    ----------
    directory
        The journal (`open_runs_directory`), created owner-only on the first run.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._locked: dict[str, IO[str]] = {}  # uid: its entry, open and locked

    def __call__(self, name: str, doc: Mapping) -> None:
        if name == "start":
            self._open(doc)
        elif name == "stop":
            self._close(doc["run_start"])

    def _open(self, start: Mapping) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        run = OpenRun(
            uid=start["uid"],
            scan_id=start.get("scan_id"),
            plan_name=start.get("plan_name"),
            pid=os.getpid(),
            hostname=socket.gethostname(),
            start_time=start["time"],
        )
        path = entry_path(self.directory, run.uid)
        unseen = path.with_name(f".{path.name}.new")  # not `*.json`: no reader looks at it
        entry = os.fdopen(os.open(unseen, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w")
        fcntl.flock(entry, fcntl.LOCK_EX)  # held until the stop, or the process's end
        json.dump(dataclasses.asdict(run), entry)
        entry.flush()
        os.fsync(entry.fileno())
        unseen.rename(path)
        self._locked[run.uid] = entry

    def _close(self, uid: str) -> None:
        entry = self._locked.pop(uid, None)
        if entry is None:  # its entry could not be written at the start (the error said why)
            return
        with entry:  # closing it releases the lock, once the entry is gone
            entry_path(self.directory, uid).unlink()


def entry_path(directory: Path, uid: str) -> Path:
    """The journal entry of run ``uid``."""
    return directory / f"{uid}.json"


def journal_entries(directory: Path) -> list[Path]:
    """The entries of the journal under ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.json"), key=lambda path: path.stat().st_mtime)


@contextmanager
def read_entry(path: Path) -> Iterator[JournalEntry | None]:
    """The journal entry ``path``, its lock held by this process for the block if its writer
    is gone (the caller may then remove it); None if the entry is gone (its run closed).

    Raises
    ------
    ValueError
        If the file is not a journal entry.
    """
    try:
        entry = path.open()
    except FileNotFoundError:
        yield None
        return
    with entry:
        try:
            fcntl.flock(entry, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            writer_alive = True
        else:
            writer_alive = False
            if os.fstat(entry.fileno()).st_nlink == 0:  # removed as its run closed
                yield None
                return
        try:
            run = OpenRun(**json.load(entry))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path} is not an open-run entry: {error}") from None
        yield JournalEntry(path, run, writer_alive)
