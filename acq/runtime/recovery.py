"""Runs whose process died closed, and runs kept in the backup uploaded into Tiled, each
completed in place (``acq recover``).

How a run gets there. bluesky-tiled-plugins' `TiledWriter` (`acq.runtime.streaming`) wraps the
writer of each run in its `_ConditionalBackup`: once a write to Tiled fails, Tiled is abandoned
for the rest of the run and every document of it, from its start document on, is written in
the order emitted to ``<data_dir>/backup/<uid's first 8 hex digits>.jsonl``, one
``{"name": ..., "doc": ...}`` per line, as the writer was given them (before its
`RunNormalizer`). Tiled keeps what was written before the failure: the run's node with its
start document, the streams of the descriptors seen, some event rows and array rows, some
external data registered, and no stop document.

Why TiledWriter cannot simply be run again. It creates every node it writes (the run, each
stream, its ``internal`` table, each array, each external-data node) with a fixed key, so the
run's node already exists: 409 Conflict. It has no way to go on with a run it has started.

What this module does, the narrowest way found. The backup's documents go through TiledWriter
itself, unchanged (its normalizer, its mapping of documents to nodes, its consolidators of
external data), given a client (`_ResumedNode`) that differs from Tiled's in two ways only:

- creating a node whose key exists opens that node instead (``create_container``,
  ``create_appendable_table``, ``write_array``, ``new``);
- rows that an existing node holds are not written again: an ``internal`` table's rows by
  their ``seq_num`` (`_ResumedTable`), an array's rows by position, as TiledWriter's own
  offsets count them (`_ResumedArray`; it writes an event's arrays before its table row, so a
  write cut short may leave an array one row ahead of the table: each node is resumed on its
  own).

The rest is TiledWriter's: an external-data node's data source is replaced by the one its
consolidator rebuilds from every StreamResource/StreamDatum (Resource/Datum) of the run (the
same for what was registered, extended by what was not), the stop document and TiledWriter's
notes go into the run's metadata, streams are closed. A later descriptor of a stream already
recorded in its ``_config_updates`` is not recorded twice. Nothing already in Tiled is deleted.
TiledWriter's default batch size is used (rows written in bulk at the stop document, as it
advises for migrations); a backup without a stop document (a run still open) is written a row
at a time, as it would have been live.

A backup is moved to ``backup/recovered/`` once Tiled holds all of it (`missing` is empty: the
run, every stream, every event's row and as many rows in each of a stream's arrays as events
carried it, and the stop document); never deleted. Recovering again adds nothing.

Runs whose process died. A process killed mid-run (SIGKILL, the OOM killer, a queue
environment destroyed) emits no stop document: its run would stay open in Tiled, or in its
backup, for ever. Every run has an entry in the journal of open runs while it is open, locked
by its process (`acq.runtime.open_runs`). First, `close_open_runs` closes the run of each entry
whose lock is free (its process gone) with a stop document that says what happened:
``exit_status`` "fail"; a ``reason`` naming the process (pid, host) and saying that ``acq
recover`` closed the run from what was recorded of it; the ``time`` of the last document
recorded (the start, a descriptor, an event); ``num_events`` counting the events recorded of
each stream. A run with a backup gets it appended to its backup (a last line cut short by the
kill, not a document, is cut off first), which is then uploaded as above and so moves to
``recovered/`` as a complete run; a run in Tiled alone gets it into its metadata, where
TiledWriter puts a stop document (``update_metadata(metadata={"stop": ...},
drop_revision=True)``). The entry is then removed; so is one whose run has a stop document
already (its process died after writing it) or was recorded nowhere. An entry whose lock is
held (its run still going) is left as it is. Closing again adds nothing.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pyarrow
from bluesky_tiled_plugins import TiledWriter
from bluesky_tiled_plugins.writing.tiled_writer import BATCH_SIZE
from event_model import DocumentNames, schema_validators, unpack_event_page
from event_model.documents import EventPage
from tiled.client.container import Container

from ..analysis.results import ALL_ARRAYS_AS_ZARR
from ..config import StationConfig
from .open_runs import OpenRun, journal_entries, open_runs_directory, read_entry
from .streaming import BackedUpRun, backup_directory, backup_file
from .tiled_client import connect, endpoint

#: Folder of the backup directory that recovered backups are moved to.
RECOVERED_DIRNAME = "recovered"

Document = tuple[str, dict]


class RecoveryError(RuntimeError):
    """A backup that cannot be uploaded as it is (the message says why)."""


# --- what a backup holds (pure) -------------------------------------------------------------


@dataclass
class BackupRun:
    """The documents of one run read from a backup file, in the order emitted."""

    path: Path
    documents: list[Document]

    @property
    def start(self) -> dict:
        return self.documents[0][1]

    @property
    def uid(self) -> str:
        return self.start["uid"]

    @property
    def scan_id(self) -> int | None:
        return self.start.get("scan_id")

    @property
    def stop(self) -> dict | None:
        return next((doc for name, doc in self.documents if name == "stop"), None)

    def descriptors(self) -> dict[str, dict]:
        """Descriptor documents by uid."""
        return {doc["uid"]: doc for name, doc in self.documents if name == "descriptor"}

    def events(self) -> Iterator[dict]:
        """Every event, event pages unpacked."""
        for name, doc in self.documents:
            if name == "event":
                yield doc
            elif name == "event_page":
                yield from unpack_event_page(cast(EventPage, doc))

    def seq_nums(self) -> dict[str, set[int]]:
        """The events' seq_nums, by stream (every stream of a descriptor, even if empty)."""
        descriptors = self.descriptors()
        streams: dict[str, set[int]] = {doc["name"]: set() for doc in descriptors.values()}
        for event in self.events():
            streams[descriptors[event["descriptor"]]["name"]].add(event["seq_num"])
        return streams

    def array_rows(self) -> dict[str, Counter[str]]:
        """By stream, how many events carried each internal (not external) array key."""
        descriptors = self.descriptors()
        rows: dict[str, Counter[str]] = defaultdict(Counter)
        for event in self.events():
            descriptor = descriptors[event["descriptor"]]
            keys = descriptor["data_keys"]
            rows[descriptor["name"]].update(
                key
                for key in event["data"]
                if keys.get(key, {}).get("dtype") == "array" and "external" not in keys[key]
            )
        return rows

    def last_time(self) -> float:
        """Time of the last document of the run that has one (the start, a descriptor, an
        event), s since the epoch."""
        descriptors = (doc["time"] for doc in self.descriptors().values())
        return max([self.start["time"], *descriptors, *(doc["time"] for doc in self.events())])

    def external_keys(self) -> dict[str, set[str]]:
        """By stream, the data keys whose data is in external files."""
        external: dict[str, set[str]] = defaultdict(set)
        for doc in self.descriptors().values():
            external[doc["name"]].update(
                key for key, spec in doc["data_keys"].items() if "external" in spec
            )
        return external


def read_backup(path: Path) -> list[BackupRun]:
    """The runs in a backup file (one, unless two runs' uids share their first 8 digits).

    Raises
    ------
    RecoveryError
        If a line is not a document, or documents come before any start document.
    """
    runs: list[BackupRun] = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
            name, doc = entry["name"], entry["doc"]
        except (ValueError, KeyError, TypeError) as error:
            if number == len(lines) > 1:  # the last line cut short (its process killed)
                break
            raise RecoveryError(f"{path} line {number} is not a document: {error}") from None
        if name == "start":
            runs.append(BackupRun(path, []))
        elif not runs:
            raise RecoveryError(f"{path}: a {name!r} document before any start document")
        runs[-1].documents.append((name, doc))
    return runs


# --- what Tiled holds -----------------------------------------------------------------------


@dataclass(frozen=True)
class StreamHoldings:
    """What Tiled holds of one stream: its events' seq_nums and the rows of each array node."""

    seq_nums: frozenset[int] = frozenset()
    rows: Mapping[str, int] = field(default_factory=dict)
    #: Time of its last document Tiled holds (a descriptor, an event), s since the epoch.
    last_time: float | None = None


@dataclass(frozen=True)
class Holdings:
    """What Tiled holds of one run."""

    streams: Mapping[str, StreamHoldings]
    stop: dict | None


def _child(node: Any, key: str) -> Any | None:
    # Container's own lookup (a BlueskyRun's also finds the columns of a stream's table).
    try:
        return Container.__getitem__(node, key)
    except KeyError:
        return None


def _table_events(table: Any) -> tuple[set[int], list[float]]:
    """The seq_nums and times of the events an ``internal`` table holds."""
    if "seq_num" not in table.columns:
        raise RecoveryError(f"{table.uri}: no seq_num column; cannot tell which rows it holds")
    columns = [column for column in ("seq_num", "time") if column in table.columns]
    read = table.read(columns)  # (an empty table reads empty)
    times = read["time"].tolist() if "time" in read else []
    return set(read["seq_num"].tolist()), times


def holdings(raw: Container, uid: str) -> Holdings | None:
    """What ``raw`` holds of run ``uid`` (None: no such run)."""
    run = _child(raw, uid)
    if run is None:
        return None
    streams = {}
    for name, stream in run.base.items():
        seq_nums: set[int] = set()
        rows = {}
        # The stream's descriptors' times (TiledWriter's metadata of the stream), its events'.
        times = [
            doc["time"]
            for doc in (stream.metadata, *stream.metadata.get("_config_updates", []))
            if "time" in doc
        ]
        for key, node in stream.base.items():
            if key.startswith("internal") and node.structure_family == "table":
                table_seq_nums, table_times = _table_events(node)
                seq_nums |= table_seq_nums
                times += table_times
            elif node.structure_family == "array":
                rows[key] = node.shape[0]
        streams[name] = StreamHoldings(frozenset(seq_nums), rows, max(times, default=None))
    return Holdings(streams, run.metadata.get("stop"))


def missing(backup: BackupRun, held: Holdings | None) -> list[str]:
    """What of ``backup`` Tiled does not hold (nothing: the run is complete in Tiled)."""
    if held is None:
        return ["the run"]
    gaps = []
    array_rows = backup.array_rows()
    for stream, seq_nums in backup.seq_nums().items():
        if stream not in held.streams:
            gaps.append(f"stream {stream!r}")
            continue
        absent = len(seq_nums - held.streams[stream].seq_nums)
        if absent:
            gaps.append(f"{absent} events of {stream!r}")
        for key, expected in array_rows.get(stream, {}).items():
            rows = held.streams[stream].rows.get(key)
            if rows is not None and rows < expected:
                gaps.append(f"{expected - rows} rows of {stream}/{key}")
    if backup.stop is not None and held.stop is None:
        gaps.append("the stop document")
    return gaps


@dataclass(frozen=True)
class Added:
    """What a recovery added to Tiled, in documents (external data in rows of its nodes)."""

    start: bool = False
    descriptors: int = 0
    events: int = 0
    external_rows: int = 0
    stop: bool = False

    def __str__(self) -> str:
        parts = [
            *(["the start document"] if self.start else []),
            *([_count(self.descriptors, "descriptor")] if self.descriptors else []),
            *([_count(self.events, "event")] if self.events else []),
            *(
                [_count(self.external_rows, "row") + " of external data"]
                if self.external_rows
                else []
            ),
            *(["the stop document"] if self.stop else []),
        ]
        return ", ".join(parts) or "nothing"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def added(backup: BackupRun, before: Holdings | None, after: Holdings | None) -> Added:
    """What ``after`` holds of ``backup`` that ``before`` did not."""
    if after is None:
        return Added()
    streams_before = before.streams if before is not None else {}
    empty = StreamHoldings()
    external = backup.external_keys()
    return Added(
        start=before is None,
        descriptors=sum(
            doc["name"] not in streams_before for doc in backup.descriptors().values()
        ),
        events=sum(
            len(held.seq_nums - streams_before.get(stream, empty).seq_nums)
            for stream, held in after.streams.items()
        ),
        external_rows=sum(
            rows - streams_before.get(stream, empty).rows.get(key, 0)
            for stream, held in after.streams.items()
            for key, rows in held.rows.items()
            if key in external.get(stream, ())
        ),
        stop=(before is None or before.stop is None) and after.stop is not None,
    )


# --- TiledWriter on a run that exists -------------------------------------------------------


class _ResumedNode:
    """A Tiled container as TiledWriter sees it while completing a run: creating a child
    whose key exists opens that child; everything else is the container's own."""

    def __init__(self, node: Any) -> None:
        self._node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    @property
    def base(self) -> _ResumedNode:
        return _ResumedNode(self._node.base)

    def include_data_sources(self) -> _ResumedNode:
        return _ResumedNode(self._node.include_data_sources())

    def create_container(self, key: str, **kwargs: Any) -> _ResumedNode:
        existing = _child(self._node, key)
        if existing is None:
            existing = self._node.create_container(key=key, **kwargs)
        return _ResumedNode(existing)

    def create_appendable_table(self, schema: pyarrow.Schema, key: str, **kwargs: Any) -> Any:
        existing = _child(self._node, key)
        if existing is None:
            return self._node.create_appendable_table(schema, key=key, **kwargs)
        return _ResumedTable(existing)

    def write_array(self, array: Any, *, key: str, **kwargs: Any) -> Any:
        existing = _child(self._node, key)
        if existing is None:
            return self._node.write_array(array, key=key, **kwargs)
        resumed = _ResumedArray(existing)
        resumed.patch(array, offset=(0,), extend=True)
        return resumed

    def new(self, structure_family: str, data_sources: list, *, key: str, **kwargs: Any) -> Any:
        # An external-data node: TiledWriter then puts its whole data source (so far) in place.
        existing = _child(self._node, key)
        if existing is None:
            return self._node.new(structure_family, data_sources, key=key, **kwargs)
        return existing

    def update_metadata(self, metadata: dict | None = None, **kwargs: Any) -> Any:
        updates = (metadata or {}).get("_config_updates")
        if updates is not None:  # a later descriptor of a stream: each recorded once
            unique = {update["uid"]: update for update in updates}
            metadata = {**(metadata or {}), "_config_updates": list(unique.values())}
        return self._node.update_metadata(metadata=metadata, **kwargs)


class _ResumedTable:
    """An existing ``internal`` table: rows whose seq_num it holds are not appended again."""

    _READS = frozenset({"uri", "item", "close_stream"})

    def __init__(self, node: Any) -> None:
        self._node = node
        self._seq_nums, _ = _table_events(node)

    def __getattr__(self, name: str) -> Any:
        if name not in self._READS:  # a way of writing this class does not know: fail loudly
            raise AttributeError(f"{name!r} of a resumed table")
        return getattr(self._node, name)

    def append_partition(self, partition: int, table: pyarrow.Table) -> None:
        seq_nums = table["seq_num"].to_pylist()
        new = table.filter(pyarrow.array([n not in self._seq_nums for n in seq_nums]))
        if new.num_rows:
            self._node.append_partition(partition, new)
            self._seq_nums.update(new["seq_num"].to_pylist())


class _ResumedArray:
    """An existing array TiledWriter extends along its first axis: rows it holds (counted
    from the start, as TiledWriter's offsets count them) are not written again."""

    _READS = frozenset({"uri", "item", "dtype", "close_stream"})

    def __init__(self, node: Any) -> None:
        self._node = node
        self._held = node.shape[0]
        self._given = 0  # rows TiledWriter has given so far (what it takes as the length)

    def __getattr__(self, name: str) -> Any:
        if name not in self._READS:
            raise AttributeError(f"{name!r} of a resumed array")
        return getattr(self._node, name)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._given, *self._node.shape[1:])

    def patch(self, array: Any, offset: int | tuple[int, ...], extend: bool = False) -> None:
        start = offset if isinstance(offset, int) else offset[0]
        skip = max(0, self._held - start)
        if skip < len(array):
            self._node.patch(array[skip:], offset=(start + skip,), extend=extend)
            self._held = max(self._held, start + len(array))
        self._given = max(self._given, start + len(array))


def write_run(raw: Container, backup: BackupRun) -> None:
    """Write ``backup``'s documents into ``raw`` with TiledWriter, completing the run in place
    if it exists (module docstring)."""
    writer = TiledWriter(
        _ResumedNode(raw),
        batch_size=BATCH_SIZE if backup.stop is not None else 1,
        max_array_size=ALL_ARRAYS_AS_ZARR,
    )
    for name, doc in backup.documents:
        writer(name, doc)


# --- the backup directory -------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecovery:
    """How the recovery of one backed-up run went."""

    uid: str
    scan_id: int | None
    path: Path
    added: Added
    #: What Tiled still lacks of the backup (`missing`).
    missing: Sequence[str]
    #: Where the backup was moved, once Tiled held all of it.
    moved_to: Path | None = None
    #: Whether the backup holds the run's stop document.
    stopped: bool = True

    def line(self) -> str:
        """One line: the run, what was added, where its backup is now."""
        what = "nothing to add" if self.added == Added() else f"added {self.added}"
        if self.moved_to is not None:
            where = f"complete in Tiled; backup moved to {self.moved_to}"
        elif self.missing:
            where = f"still missing {', '.join(self.missing)}; backup kept in {self.path}"
        elif not self.stopped:
            where = (
                "no stop document in its backup (the run is still open, or its process "
                f"died with no entry in the journal of open runs); backup kept in {self.path}"
            )
        else:
            where = f"complete in Tiled; backup kept in {self.path} (another run in it is not)"
        return f"{self.uid} (scan {self.scan_id}): {what}; {where}"


def backups(backup_dir: Path) -> list[Path]:
    """The backup files not yet recovered, oldest first."""
    if not backup_dir.is_dir():
        return []
    return sorted(backup_dir.glob("*.jsonl"), key=lambda path: path.stat().st_mtime)


def recover_file(raw: Container, path: Path) -> list[RunRecovery]:
    """Upload every run of the backup file ``path`` into ``raw``; move the file to
    ``recovered/`` once Tiled holds all of it.

    Raises
    ------
    RecoveryError
        If the file is not a backup of runs.
    httpx.HTTPError
        If Tiled fails (the backup is kept).
    """
    results = []
    for backup in read_backup(path):
        before = holdings(raw, backup.uid)
        if missing(backup, before):
            write_run(raw, backup)
        after = holdings(raw, backup.uid)
        results.append(
            RunRecovery(
                backup.uid,
                backup.scan_id,
                path,
                added(backup, before, after),
                missing(backup, after),
                stopped=backup.stop is not None,
            )
        )
    if all(result.stopped and not result.missing for result in results):
        moved = _move_to_recovered(path)
        results = [dataclasses.replace(result, moved_to=moved) for result in results]
    return results


def _move_to_recovered(path: Path) -> Path:
    folder = path.parent / RECOVERED_DIRNAME
    folder.mkdir(exist_ok=True)
    target, copies = folder / path.name, 1
    while target.exists():  # never over an earlier recovered backup
        target, copies = folder / f"{path.stem}.{copies}{path.suffix}", copies + 1
    shutil.move(path, target)
    return target


# --- runs whose process died (`acq.runtime.open_runs`) --------------------------------------


def closing_stop(run: OpenRun, num_events: Mapping[str, int], time_s: float, where: str) -> dict:
    """The stop document of ``run``, whose process ended without closing it, from what
    ``where`` recorded of it.

    Parameters
    ----------
    run
        The run's entry in the journal of open runs.
    num_events
        The events recorded of the run, by stream (every stream of a descriptor).
    time_s
        Time of the last document recorded of the run, s since the epoch.
    where
        What holds the run, in words (``"Tiled"``, ``"its backup"``).
    """
    stop = {
        "uid": str(uuid.uuid4()),
        "run_start": run.uid,
        "time": time_s,
        "exit_status": "fail",
        "reason": (
            f"the acquisition process ({run.writer}) ended without closing the run; "
            f"`acq recover` closed it from what {where} recorded of it (time: that of the "
            "last document recorded; num_events: the events recorded)"
        ),
        "num_events": dict(num_events),
    }
    schema_validators[DocumentNames.stop].validate(stop)
    return stop


def append_stop(path: Path, stop: dict) -> None:
    """Append ``stop`` to the backup file ``path``, on a line of its own.

    A last line cut short (its process killed as it wrote it: not a document, which
    `read_backup` leaves out) is cut off first; a last document without its line end gets one.
    """
    with path.open("rb+") as backup:
        text = backup.read()
        end, line_end = text.rfind(b"\n") + 1, b""
        try:
            json.loads(text[end:])
            end, line_end = len(text), b"\n"  # a whole document
        except ValueError:  # nothing after the last line end, or a line cut short
            pass
        backup.seek(end)
        backup.truncate()
        backup.write(line_end + json.dumps({"name": "stop", "doc": stop}).encode() + b"\n")


def close_orphaned(raw: Container, backup_dir: Path, run: OpenRun) -> str:
    """Close ``run``, whose process ended without closing it, with a stop document from what
    was recorded of it: appended to its backup if it has one (then uploaded with the backup),
    else put into its metadata in ``raw`` as TiledWriter puts it there; what was done, in words.

    Raises
    ------
    RecoveryError
        If its backup cannot be read, or holds a later run after it.
    httpx.HTTPError
        If Tiled fails.
    """
    path = backup_file(backup_dir, {"uid": run.uid})  # (named from the start's uid alone)
    in_backup = read_backup(path) if path.exists() else []
    backup = next((each for each in in_backup if each.uid == run.uid), None)
    ended = f"its process ({run.writer}) ended without closing it"
    if backup is not None:
        if backup.stop is not None:
            return "its stop document is in its backup already"
        if backup is not in_backup[-1]:
            raise RecoveryError(f"{path}: a later run follows it there")
        counted = {name: len(seq_nums) for name, seq_nums in backup.seq_nums().items()}
        stop = closing_stop(run, counted, backup.last_time(), "its backup")
        append_stop(path, stop)
        return f"{ended}; {_closed(stop)} in its backup {path}"
    held = holdings(raw, run.uid)
    if held is None:
        return f"{ended}, before anything of it was recorded (not in Tiled, no backup)"
    if held.stop is not None:
        return "its stop document is in Tiled already"
    counted = {name: len(stream.seq_nums) for name, stream in held.streams.items()}
    times = [stream.last_time for stream in held.streams.values() if stream.last_time is not None]
    stop = closing_stop(run, counted, max([run.start_time, *times]), "Tiled")
    raw[run.uid].update_metadata(metadata={"stop": stop}, drop_revision=True)
    return f"{ended}; {_closed(stop)} in Tiled"


def _closed(stop: dict) -> str:
    events = _count(sum(stop["num_events"].values()), "event")
    return f'closed "fail" ({events}, its last document at {_local_time(stop["time"])})'


def _local_time(time_s: float) -> str:
    return datetime.fromtimestamp(time_s).isoformat(sep=" ", timespec="seconds")


def close_open_runs(raw: Container, journal_dir: Path, backup_dir: Path) -> bool:
    """Close every run in the journal of open runs under ``journal_dir`` whose process is gone
    (`close_orphaned`) and remove its entry; one line per entry. Whether none is left open
    (still open in a live process, or not closed: the error says why, on stderr)."""
    all_closed = True
    for path in journal_entries(journal_dir):
        try:
            with read_entry(path) as entry:
                if entry is None:  # its run closed meanwhile
                    continue
                run = entry.run
                label = f"{run.uid} (scan {run.scan_id})"
                if entry.writer_alive:
                    started = _local_time(run.start_time)
                    print(f"{label}: still open ({run.writer}, started {started}); left open")
                    all_closed = False
                    continue
                print(f"{label}: {close_orphaned(raw, backup_dir, run)}; journal entry removed")
                path.unlink()
        except (RecoveryError, ValueError, httpx.HTTPError) as error:
            print(f"acq: {path}: not closed ({error}); journal entry kept", file=sys.stderr)
            all_closed = False
    return all_closed


def recover(config: StationConfig) -> int:
    """``acq recover``: close every run whose process ended without closing it
    (`close_open_runs`), then upload every backup of ``config``'s station into its Tiled; one
    line per run. Exit status 0 when every run is closed and every backed-up run whole in Tiled
    (or there is nothing to do), 1 otherwise (Tiled unreachable, a backup or journal entry
    unreadable, a run still open in a live process, still missing something or without its
    stop document)."""
    data_dir = config.station.data_dir
    backup_dir, journal_dir = backup_directory(data_dir), open_runs_directory(data_dir)
    if not backups(backup_dir) and not journal_entries(journal_dir):
        print(f"no backups under {backup_dir}, no open runs in {journal_dir}: nothing to recover")
        return 0
    uri, api_key = endpoint(config)
    try:
        raw = connect(uri, api_key)["raw"]
    except httpx.HTTPError as error:
        print(
            f"acq: cannot reach Tiled at {uri} ({error}); backups and open runs kept",
            file=sys.stderr,
        )
        return 1
    status = 0 if close_open_runs(raw, journal_dir, backup_dir) else 1
    for path in backups(backup_dir):
        try:
            for result in recover_file(raw, path):
                print(result.line())
                if result.missing or not result.stopped:  # not (yet) whole in Tiled
                    status = 1
        except (RecoveryError, httpx.HTTPError) as error:
            print(f"acq: {path}: not recovered ({error}); backup kept", file=sys.stderr)
            status = 1
    return status


def report_backed_up(runs: Sequence[BackedUpRun]) -> bool:
    """Say on stderr, in one line, which runs went to the backup instead of (all) to Tiled
    (`acq.runtime.streaming.TiledBackgroundWriter.backed_up`); whether any did."""
    if runs:
        listed = ", ".join(f"{run.uid} (scan {run.scan_id}) in {run.path}" for run in runs)
        print(
            f"acq: {_count(len(runs), 'run')} did not reach Tiled in full, every document "
            f"kept in the backup: {listed}; `acq recover` uploads them",
            file=sys.stderr,
        )
    return bool(runs)
