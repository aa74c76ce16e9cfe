"""Documents to Tiled without holding up acquisition.

bluesky-tiled-plugins' `TiledWriter` with ``batch_size=1`` streams every event as it comes
but writes synchronously (≈33 ms per event here); called from the RunEngine's callback it
would stall the scan. `BackgroundWriter` hands each document to a thread of its own, which
calls the writer in order. TiledWriter's own ``backup_directory`` keeps every run that fails
to reach Tiled as JSON lines; `TiledBackgroundWriter` knows which runs went there, and
`acq.runtime.recovery` (``acq recover``) uploads them.

bluesky's `BufferingWrapper` does the hand-off too, but cannot say when what it was given has
been written: `BackgroundWriter.flush` waits for exactly that, which is how a run ends only
once its documents are in Tiled (`acq.runtime.engine`), and it counts the documents the
writer failed on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bluesky_tiled_plugins import TiledWriter

# TiledWriter's naming of a run's backup file (JSONLinesWriter's), so the two agree.
from bluesky_tiled_plugins.writing._json_writer import default_name
from event_model import sanitize_doc
from tiled.client.container import Container

from ..analysis.results import ALL_ARRAYS_AS_ZARR

logger = logging.getLogger(__name__)

_CLOSE = object()


class BackgroundWriter:
    """A document callback that runs ``callback`` on a worker thread, in order.

    Parameters
    ----------
    callback
        The slow callback (e.g. a `TiledWriter`).
    name
        Name of the worker thread.
    """

    def __init__(self, callback: Callable[[str, dict], object], name: str = "tiled-writer"):
        self.callback = callback
        self.failures = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def __call__(self, name: str, doc: dict) -> None:
        self._queue.put((name, doc))

    @property
    def pending(self) -> int:
        """Documents not yet handed to the callback."""
        return self._queue.qsize()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every document so far has been written; False on timeout."""
        done = threading.Event()
        self._queue.put((_CLOSE, done))
        return done.wait(timeout_s)

    def close(self, timeout_s: float | None = 60.0) -> None:
        """Write what is queued, then stop the worker."""
        self.flush(timeout_s)
        self._queue.put((None, None))
        self._thread.join(timeout_s)

    def _work(self) -> None:
        while True:
            name, doc = self._queue.get()
            if name is None:
                return
            if name is _CLOSE:
                doc.set()
                continue
            try:
                self.callback(name, doc)
            except Exception:  # keep writing later runs; TiledWriter backs the run up itself
                self.failures += 1
                logger.exception("writing a %r document to Tiled failed", name)


#: Folder of ``data_dir`` where TiledWriter keeps the runs that failed to reach Tiled.
BACKUP_DIRNAME = "backup"


def backup_directory(data_dir: Path) -> Path:
    """Where a station with data under ``data_dir`` keeps runs that failed to reach Tiled."""
    return Path(data_dir).resolve() / BACKUP_DIRNAME


def backup_file(backup_dir: Path, start: Mapping) -> Path:
    """The JSON-lines file TiledWriter backs the run of ``start`` up to (its naming)."""
    return backup_dir / default_name("start", start, suffix=".jsonl")


@dataclass(frozen=True)
class BackedUpRun:
    """A run whose documents went to the backup instead of (all) to Tiled."""

    uid: str
    scan_id: int | None
    path: Path


class TiledBackgroundWriter(BackgroundWriter):
    """A live (batch size 1) TiledWriter into ``raw``, off the RunEngine's thread, that knows
    which runs failed to reach Tiled.

    TiledWriter catches a failed write itself (its `_ConditionalBackup` logs it, abandons
    Tiled for the rest of the run and writes the whole run to the backup), so nothing reaches
    `BackgroundWriter.failures`: a run went to the backup when its backup file grew while the
    run was written. Such runs are in `backed_up` once their stop document is written.

    Parameters
    ----------
    raw
        The ``raw`` container (spec ``CatalogOfBlueskyRuns``).
    backup_dir
        Where runs that fail to reach Tiled are kept as JSON lines.
    """

    def __init__(self, raw: Container, backup_dir: Path) -> None:
        backup_dir.mkdir(parents=True, exist_ok=True)
        self.backup_dir = backup_dir
        self.backed_up: list[BackedUpRun] = []
        self._open: dict[str, tuple[BackedUpRun, int]] = {}
        self._writer = TiledWriter(
            raw, backup_directory=str(backup_dir), batch_size=1, max_array_size=ALL_ARRAYS_AS_ZARR
        )
        super().__init__(self._write)

    def _write(self, name: str, doc: dict) -> None:
        # The backup (JSON lines) cannot serialise numpy arrays, which ophyd puts in events.
        doc = sanitize_doc(doc)
        if name == "start":
            run = BackedUpRun(doc["uid"], doc.get("scan_id"), backup_file(self.backup_dir, doc))
            self._open[run.uid] = (run, _size_B(run.path))
        try:
            self._writer(name, doc)
        finally:
            if name == "stop" and doc["run_start"] in self._open:
                run, size_at_start_B = self._open.pop(doc["run_start"])
                if _size_B(run.path) > size_at_start_B:
                    self.backed_up.append(run)


def _size_B(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
