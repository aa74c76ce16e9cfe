"""The journal of open runs (`acq.runtime.open_runs`): an entry per open run, locked by its
writer for as long as the writer lives, free once the writer is killed, gone at the stop."""

from __future__ import annotations

import fcntl
import json
import signal
import socket
import stat

import event_model
import pytest

from acq.runtime.open_runs import OpenRun, OpenRunJournal, entry_path, read_entry
from tests.open_run_writer import open_run_writer


def lock_is_free(path) -> bool:
    """Whether this process can take ``path``'s exclusive lock (released at once)."""
    with path.open() as entry:
        try:
            fcntl.flock(entry, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def a_start() -> dict:
    return event_model.compose_run(metadata={"scan_id": 12, "plan_name": "count"}).start_doc


def test_an_entry_is_locked_while_its_writer_lives_and_free_once_it_is_killed(tmp_path):
    directory = tmp_path / "open_runs"
    start = a_start()
    path = entry_path(directory, start["uid"])
    with open_run_writer(directory, start) as writer:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text()) == {
            "uid": start["uid"],
            "scan_id": 12,
            "plan_name": "count",
            "pid": writer.pid,
            "hostname": socket.gethostname(),
            "start_time": start["time"],
        }
        assert list(directory.iterdir()) == [path]  # nothing but the entry
        assert not lock_is_free(path)
        with read_entry(path) as entry:
            assert entry is not None and entry.writer_alive
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        assert lock_is_free(path)
        with read_entry(path) as entry:
            assert entry is not None and not entry.writer_alive
            assert entry.run == OpenRun(
                start["uid"], 12, "count", writer.pid, socket.gethostname(), start["time"]
            )
            assert not lock_is_free(path)  # held by the reader for the block


def test_the_stop_document_removes_the_entry(tmp_path):
    journal = OpenRunJournal(tmp_path / "open_runs")
    run = event_model.compose_run()
    journal("start", run.start_doc)
    path = entry_path(journal.directory, run.start_doc["uid"])
    assert path.exists() and not lock_is_free(path)  # (another open file description's lock)
    with path.open() as held_open:  # a reader that opened it before the stop
        journal("event", {})  # other documents do nothing
        journal("stop", run.compose_stop())
        assert not path.exists()
        fcntl.flock(held_open, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: the writer let it go
    with read_entry(path) as entry:
        assert entry is None


def test_a_file_that_is_not_an_entry_is_refused_naming_it(tmp_path):
    path = tmp_path / "stray.json"
    path.write_text("{}")
    with (
        pytest.raises(ValueError, match=r"stray\.json is not an open-run entry"),
        read_entry(path),
    ):
        pass
