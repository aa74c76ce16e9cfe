"""A fast writer and a polling reader on the embedded Tiled at the same time: the station's
writer (`acq.runtime.streaming.TiledBackgroundWriter`) streams thousands of unpaced events
while another client reads the run's table over and over. Every event arrives exactly once,
and neither the reader nor the writer meets a server error (SQLite's "database is locked"
came back as HTTP 500 before the server's databases were put in WAL mode; TiledWriter
retries a failed append, warns, and notes it in the run: a retry may duplicate rows).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import bluesky.plans as bp
import numpy as np
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter
from event_model import pack_event_page
from ophyd.sim import SynSignal
from tiled.client.dataframe import DataFrameClient

from acq.runtime.streaming import PageNormalizer, TiledBackgroundWriter
from acq.runtime.tiled_client import connect
from acq.services import EmbeddedTiled
from acq.services.tiled_server import SQLITE_DATABASES

#: Events of the run: thousands, emitted as fast as the RunEngine goes.
EVENTS = 3000


class PollingReader:
    """A thread reading the ``seq_num`` column of the table of run ``uid``'s ``primary``
    stream until stopped, keeping every error but the run's or its table's absence (not
    written yet).

    It reads the table, as a live reader has to: a column read as an array
    (``run["primary"]["seq_num"]``) is checked by the server against the length the client
    saw a moment before, and answers HTTP 500 once the table has grown in between.
    """

    def __init__(self, server: EmbeddedTiled, uid: threading.Event, holder: list[str]) -> None:
        self.raw = connect(server.uri, server.api_key)["raw"]
        self.uid, self.holder = uid, holder
        self.errors: list[str] = []
        self.lengths: list[int] = []  # rows seen by each read of the table
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="polling-reader")
        self._thread.start()

    def _poll(self) -> None:
        self.uid.wait()
        while not self.stopped.is_set():
            try:
                table = self.raw[self.holder[0]]["primary"].base["internal"]
                self.lengths.append(len(table.read(["seq_num"])))
            except KeyError:  # the run or its stream not in Tiled yet
                continue
            except Exception as error:  # an HTTP 500 ("database is locked") or any other
                self.errors.append(repr(error)[:300])

    def stop(self) -> None:
        self.stopped.set()
        self._thread.join(60)


def retried_appends(caplog) -> list[str]:
    """TiledWriter's warnings of appends the server failed (and it retried)."""
    return [record.getMessage() for record in caplog.records if "retry" in record.getMessage()]


def test_the_servers_databases_are_in_write_ahead_log_mode(tiled_server):
    for name in SQLITE_DATABASES:
        with sqlite3.connect(tiled_server.directory / name) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",), name
        connection.close()


def test_polling_reader_and_fast_writer(tiled_server, tiled_client, tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, logger="bluesky_tiled_plugins")
    writer = TiledBackgroundWriter(tiled_client["raw"], tmp_path / "backup")
    started, holder = threading.Event(), []

    def note_uid(name: str, doc: dict) -> None:
        holder.append(doc["uid"])
        started.set()

    RE = RunEngine({})
    RE.subscribe(note_uid, "start")
    RE.subscribe(writer)
    reader = PollingReader(tiled_server, started, holder)
    try:
        (uid,) = RE(bp.count([SynSignal(func=lambda: 1.0, name="det")], num=EVENTS))
        # Until all is written, or the first server error: a writer meeting them drains slowly.
        while not writer.flush(1.0) and not (reader.errors or retried_appends(caplog)):
            pass
    finally:
        reader.stop()

    assert reader.errors == []
    assert retried_appends(caplog) == []
    assert writer.flush(60)
    writer.close()
    # The reader read the run while it was being written, not only once it was complete.
    assert any(0 < length < EVENTS for length in reader.lengths)
    run = tiled_client["raw"][uid]
    np.testing.assert_array_equal(run["primary"]["seq_num"].read(), np.arange(1, EVENTS + 1))
    assert [note for note in run.metadata.get("notes", []) if "failed" in note] == []
    assert run.metadata["stop"]["exit_status"] == "success"
    assert writer.failures == 0
    assert writer.backed_up == []


def test_an_event_page_is_written_in_one_request(tiled_client, monkeypatch):
    appends: list[int] = []
    append_partition = DataFrameClient.append_partition

    def counted(self, partition, data):
        appends.append(len(data))
        return append_partition(self, partition, data)

    monkeypatch.setattr(DataFrameClient, "append_partition", counted)
    documents: list[tuple[str, dict]] = []
    RE = RunEngine({})
    RE.subscribe(lambda name, doc: documents.append((name, doc)))
    (uid,) = RE(bp.count([SynSignal(func=lambda: 1.0, name="det")], num=500))
    events = [doc for name, doc in documents if name == "event"]
    writer = TiledWriter(tiled_client["raw"], normalizer=PageNormalizer, batch_size=1)
    for name, doc in documents:
        if name == "event" and doc is events[0]:
            writer("event_page", pack_event_page(*events[:400]))
            writer("event_page", pack_event_page(*events[400:]))
        elif name != "event":
            writer(name, doc)

    assert appends == [400, 100]
    table = tiled_client["raw"][uid]["primary"].base["internal"].read()
    np.testing.assert_array_equal(table["seq_num"], np.arange(1, 501))
