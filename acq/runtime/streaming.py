"""Documents to Tiled without holding up acquisition.

bluesky-tiled-plugins' `TiledWriter` with ``batch_size=1`` streams every event as it comes
but writes synchronously (≈33 ms per event here); called from the RunEngine's callback it
would stall the scan. `BackgroundWriter` hands each document to a thread of its own, which
calls the writer in order. TiledWriter's own ``backup_directory`` keeps every run that fails
to reach Tiled as JSON lines, for re-upload.

bluesky's `BufferingWrapper` does the hand-off too, but cannot say when what it was given has
been written: `BackgroundWriter.flush` waits for exactly that, which is how a run ends only
once its documents are in Tiled (`acq.runtime.engine`), and it counts the documents the
writer failed on.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from bluesky_tiled_plugins import TiledWriter
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


def tiled_writer(raw: Container, backup_dir: Path) -> BackgroundWriter:
    """A live (batch size 1) TiledWriter into ``raw``, off the RunEngine's thread.

    Parameters
    ----------
    raw
        The ``raw`` container (spec ``CatalogOfBlueskyRuns``).
    backup_dir
        Where runs that fail to reach Tiled are kept as JSON lines.
    """
    backup_dir.mkdir(parents=True, exist_ok=True)
    writer = TiledWriter(
        raw, backup_directory=str(backup_dir), batch_size=1, max_array_size=ALL_ARRAYS_AS_ZARR
    )

    def write(name: str, doc: dict) -> None:
        # The backup (JSON lines) cannot serialise numpy arrays, which ophyd puts in events.
        writer(name, sanitize_doc(doc))

    return BackgroundWriter(write)
