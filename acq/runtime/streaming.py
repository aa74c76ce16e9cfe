"""Documents to Tiled without holding up acquisition, in one request per batch of events.

bluesky-tiled-plugins' `TiledWriter` writes synchronously, one HTTP request per event when
its ``batch_size`` is 1 (≈30 ms per event here: ≈35 events/s), and with a larger one only
when that many events have come or the run stops: neither keeps a reader up to date at every
rate. `BackgroundWriter` hands each document to a thread of its own, which calls the writer
in order; given ``max_events``, it waits until ``max_delay_s`` after an event's time (a
`flush` ends the wait) and then takes everything queued, handing a stream's consecutive events
on as one event page (``max_events`` at most) before whatever follows them (descriptor, stop,
another stream's event). `TiledWriter` with `PageNormalizer` writes such a page's rows in one
request (`TiledBackgroundWriter`): an event is readable in Tiled within ``max_delay_s`` plus
the requests before it, at any rate.

TiledWriter's own ``backup_directory`` keeps every run that fails to reach Tiled as JSON lines
(a failed page is backed up with the rest of its run); `TiledBackgroundWriter` knows which
runs went there, and `acq.runtime.recovery` (``acq recover``) uploads them. Events held back
are in memory only, as queued documents are: a process that dies loses at most
``max_delay_s`` more of them, and ``acq recover`` closes its run from what reached Tiled.

bluesky's `BufferingWrapper` does the hand-off too, but cannot say when what it was given has
been written: `BackgroundWriter.flush` waits for exactly that, which is how a run ends only
once its documents are in Tiled (`acq.runtime.engine`), and it counts the documents the
writer failed on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bluesky_tiled_plugins import TiledWriter

# TiledWriter's naming of a run's backup file (JSONLinesWriter's), so the two agree.
from bluesky_tiled_plugins.writing._json_writer import default_name
from bluesky_tiled_plugins.writing.tiled_writer import RunNormalizer, _RunWriter
from event_model import (
    DocumentNames,
    pack_event_page,
    sanitize_doc,
    schema_validators,
    unpack_event_page,
)
from event_model.documents import Event, EventPage
from tiled.client.container import Container

from ..analysis.results import ALL_ARRAYS_AS_ZARR

logger = logging.getLogger(__name__)

_CLOSE = object()

#: Events `TiledBackgroundWriter` writes in one request at most.
MAX_EVENTS_PER_REQUEST = 1000
#: Seconds `TiledBackgroundWriter` holds an event back at most before writing it.
MAX_DELAY_S = 0.1


class BackgroundWriter:
    """A document callback that runs ``callback`` on a worker thread, in order.

    Parameters
    ----------
    callback
        The slow callback (e.g. a `TiledWriter`).
    name
        Name of the worker thread.
    max_events
        Consecutive events of one stream handed on together, as one event page, at most;
        1 hands every document on as it comes.
    max_delay_s
        Seconds after an event's ``time`` the worker waits for more (with ``max_events`` >
        1), unless a flush asks sooner; documents queued meanwhile wait with it.
    """

    def __init__(
        self,
        callback: Callable[[str, dict], object],
        name: str = "tiled-writer",
        *,
        max_events: int = 1,
        max_delay_s: float = 0.0,
    ):
        self.callback = callback
        self.max_events = max_events
        self.max_delay_s = max_delay_s
        self.failures = 0
        self._queue: queue.Queue = queue.Queue()
        self._held: list[dict] = []  # events of one stream not yet handed on (worker's)
        self._wake = threading.Event()  # ends the worker's wait for more events
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def __call__(self, name: str, doc: dict) -> None:
        self._queue.put((name, doc))

    @property
    def pending(self) -> int:
        """Documents not yet handed to the callback (events held back included)."""
        return self._queue.qsize() + len(self._held)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every document so far has been written; False on timeout."""
        done = threading.Event()
        self._queue.put((_CLOSE, done))
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float | None = 60.0) -> None:
        """Write what is queued, then stop the worker."""
        self.flush(timeout_s)
        self._queue.put((None, None))
        self._wake.set()
        self._thread.join(timeout_s)

    def _work(self) -> None:
        closing = False
        while not closing:
            name, doc = self._queue.get()
            if name != "event" or self.max_events <= 1:
                closing = self._take(name, doc)
                continue
            # Let more events come without waking for each (a wake takes the GIL from the
            # RunEngine's thread, a cost per event the batch is there to save): until
            # max_delay_s after the event was made (not after it was taken: one that waited
            # behind a slow request waits no more) or a flush asks; then take all queued.
            made_s_ago = max(0.0, time.time() - doc["time"])
            self._wake.wait(max(0.0, self.max_delay_s - made_s_ago))
            self._wake.clear()
            closing = self._take(name, doc)
            while not closing:
                try:
                    name, doc = self._queue.get_nowait()
                except queue.Empty:
                    break
                closing = self._take(name, doc)
            self._hand_on_held()

    def _take(self, name: Any, doc: Any) -> bool:
        """Hold an event back, or hand on the held events and then ``doc`` (a document, a
        flush's `threading.Event`, or None to stop); True when told to stop."""
        if name == "event" and self.max_events > 1:
            if self._held and self._held[0]["descriptor"] != doc["descriptor"]:
                self._hand_on_held()
            self._held.append(doc)
            if len(self._held) >= self.max_events:
                self._hand_on_held()
            return False
        self._hand_on_held()
        if name is None:
            return True
        if name is _CLOSE:
            doc.set()
            return False
        self._call(name, doc)
        return False

    def _hand_on_held(self) -> None:
        if len(self._held) == 1:
            self._call("event", self._held[0])
        elif self._held:
            page = pack_event_page(*cast(list[Event], self._held))
            self._call("event_page", cast(dict, page))
        self._held = []

    def _call(self, name: str, doc: dict) -> None:
        try:
            self.callback(name, doc)
        except Exception:  # keep writing later runs; TiledWriter backs the run up itself
            self.failures += 1
            logger.exception("writing a %r document to Tiled failed", name)


class PageNormalizer(RunNormalizer):
    """TiledWriter's `RunNormalizer` (its ``normalizer``), with the rows of an event page
    written in one request when the page's stream has no external data.

    TiledWriter's run writer writes its cached rows once it holds ``batch_size`` of them (or
    at the stop document), and has no other way to be told to write: here its batch size is
    the page's length while the page goes through, so that the page's last event writes them
    all (with ``batch_size=1`` it is empty at every page's start). Pages of streams with
    external data (frames registered from datums) go through event by event, as
    ``batch_size=1`` has them: a larger batch size would hold their registration back.

    Of such a page only the first event is checked against event_model's schema: RunNormalizer
    checks every document it passes on, which for events was 55 % of the writer's CPU time
    (checking the page as a whole still half), time the RunEngine's thread waits for the GIL
    (benchmarks/tiled_streaming.py). The page's events were made by the RunEngine from one
    descriptor, which is checked; a malformed row still fails its write, and the run goes to
    the backup.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._run_writer: _RunWriter | None = None
        self._internal_only: set[str] = set()  # uids of descriptors without external data
        self._page_checked = False  # inside an event page whose first event was checked

    def subscribe(self, func, name="all"):
        """Subscribe ``func``, TiledWriter's run writer, whose batch size pages set."""
        if not isinstance(func, _RunWriter):
            raise TypeError(f"PageNormalizer feeds TiledWriter's run writer, not {func!r}")
        self._run_writer = func
        return super().subscribe(func, name)

    def descriptor(self, doc: dict) -> None:
        if not any("external" in data_key for data_key in doc["data_keys"].values()):
            self._internal_only.add(doc["uid"])
        super().descriptor(doc)

    def event_page(self, doc: dict) -> None:
        if self._run_writer is None or doc["descriptor"] not in self._internal_only:
            super().event_page(doc)
            return
        schema_validators[DocumentNames.event].validate(
            next(unpack_event_page(cast(EventPage, doc)))
        )
        batch_size = self._run_writer._batch_size
        self._run_writer._batch_size = len(doc["seq_num"])
        self._page_checked = True
        try:
            super().event_page(doc)
        finally:
            self._run_writer._batch_size = batch_size
            self._page_checked = False

    def emit(self, name, doc):
        """Pass ``doc`` on, checked against its schema unless its page's first event was."""
        if self._page_checked and name == DocumentNames.event:
            self.dispatcher.process(name, doc)
        else:
            super().emit(name, doc)


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
    """A live TiledWriter into ``raw``, off the RunEngine's thread, writing a stream's events
    in one request per `MAX_EVENTS_PER_REQUEST` or `MAX_DELAY_S`, that knows which runs
    failed to reach Tiled.

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
            raw,
            normalizer=PageNormalizer,
            backup_directory=str(backup_dir),
            batch_size=1,
            max_array_size=ALL_ARRAYS_AS_ZARR,
        )
        super().__init__(self._write, max_events=MAX_EVENTS_PER_REQUEST, max_delay_s=MAX_DELAY_S)

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
