"""The parts of ``acq recover`` that need no Tiled (`acq.runtime.recovery`): reading a
backup, what of it a run in Tiled lacks, what a recovery added, the lines it prints, and the
one line `acq run` and `acq demo` print for runs that went to the backup."""

from __future__ import annotations

import json
from pathlib import Path

import event_model
import pytest

from acq.cli import main
from acq.runtime.open_runs import open_runs_directory
from acq.runtime.recovery import (
    RECOVERED_DIRNAME,
    Added,
    Holdings,
    RecoveryError,
    RunRecovery,
    StreamHoldings,
    added,
    append_stop,
    backups,
    missing,
    read_backup,
    recover,
    report_backed_up,
)
from acq.runtime.streaming import BackedUpRun, backup_directory, backup_file
from tests.stations import write_toml

KEYS = {
    "v": {"source": "sim", "dtype": "number", "shape": []},
    "spectrum": {"source": "sim", "dtype": "array", "shape": [2]},
    "image": {"source": "sim", "dtype": "array", "shape": [4, 4], "external": "STREAM:"},
}


def a_run(events: int = 3, *, stop: bool = True) -> list[tuple[str, dict]]:
    """A run's documents as TiledWriter backs them up: each event as a one-event page."""
    run = event_model.compose_run()
    bundle = run.compose_descriptor(name="primary", data_keys=KEYS)
    documents = [("start", run.start_doc), ("descriptor", bundle.descriptor_doc)]
    for n in range(events):
        event = bundle.compose_event(
            data={"v": float(n), "spectrum": [n, n]}, timestamps={"v": 1.0, "spectrum": 1.0}
        )
        documents.append(("event_page", event_model.pack_event_page(event)))
    if stop:
        documents.append(("stop", run.compose_stop()))
    return documents


def write_lines(path: Path, documents, tail: str = "") -> Path:
    path.write_text("".join(json.dumps({"name": n, "doc": d}) + "\n" for n, d in documents) + tail)
    return path


def test_a_backup_is_read_run_by_run_and_a_last_line_cut_short_is_left_out(tmp_path):
    first, second = a_run(2), a_run(1, stop=False)
    path = write_lines(tmp_path / "b.jsonl", first + second, tail='{"name": "event_pa')
    runs = read_backup(path)
    assert [run.uid for run in runs] == [first[0][1]["uid"], second[0][1]["uid"]]
    assert [run.stop is not None for run in runs] == [True, False]
    assert runs[0].seq_nums() == {"primary": {1, 2}}
    assert runs[0].array_rows() == {"primary": {"spectrum": 2}}  # not the external image
    assert runs[0].external_keys() == {"primary": {"image"}}


def test_a_backup_that_is_not_one_is_refused_naming_the_line(tmp_path):
    documents = a_run(2)
    path = write_lines(tmp_path / "b.jsonl", documents[:2])
    path.write_text(path.read_text() + "not json\n" + path.read_text())
    with pytest.raises(RecoveryError, match="line 3 is not a document"):
        read_backup(path)
    headless = write_lines(tmp_path / "c.jsonl", documents[1:])
    with pytest.raises(RecoveryError, match="'descriptor' document before any start"):
        read_backup(headless)


def test_a_stop_document_goes_on_a_line_of_its_own_after_the_last_whole_document(tmp_path):
    documents = a_run(2, stop=False)
    whole = write_lines(tmp_path / "whole.jsonl", documents)
    cut_short = write_lines(tmp_path / "cut.jsonl", documents, tail='{"name": "event_pa')
    unended = write_lines(tmp_path / "unended.jsonl", documents)
    unended.write_text(unended.read_text().removesuffix("\n"))  # killed before its line end
    stop = {"uid": "s", "run_start": documents[0][1]["uid"], "time": 1.0, "exit_status": "fail"}
    for path in (whole, cut_short, unended):
        append_stop(path, stop)
        (run,) = read_backup(path)
        read = [[name, doc] for name, doc in run.documents]
        assert read == [*json.loads(json.dumps(documents)), ["stop", stop]], path.name
        assert len(path.read_text().splitlines()) == len(documents) + 1, path.name


def read_backup_of(documents, directory: Path) -> list:
    return read_backup(write_lines(directory / "b.jsonl", documents))


def held(seq_nums=(1, 2, 3), rows=3, stop=True) -> Holdings:
    stream = StreamHoldings(frozenset(seq_nums), {"spectrum": rows, "image": rows})
    return Holdings({"primary": stream}, {"uid": "s"} if stop else None)


def test_what_tiled_lacks_of_a_backup_is_named(tmp_path):
    (backup,) = read_backup_of(a_run(3), tmp_path)
    assert missing(backup, None) == ["the run"]
    assert missing(backup, Holdings({}, None)) == ["stream 'primary'", "the stop document"]
    assert missing(backup, held(seq_nums=(1,), rows=1, stop=False)) == [
        "2 events of 'primary'",
        "2 rows of primary/spectrum",
        "the stop document",
    ]
    assert missing(backup, held(rows=2)) == ["1 rows of primary/spectrum"]
    assert missing(backup, held()) == []
    (open_run,) = read_backup_of(a_run(3, stop=False), tmp_path)
    assert missing(open_run, held(stop=False)) == []  # no stop to miss


def test_what_a_recovery_added_is_counted_in_documents(tmp_path):
    (backup,) = read_backup_of(a_run(3), tmp_path)
    assert added(backup, None, held()) == Added(
        start=True, descriptors=1, events=3, external_rows=3, stop=True
    )
    assert added(backup, held(seq_nums=(1,), rows=1, stop=False), held()) == Added(
        events=2, external_rows=2, stop=True
    )
    assert added(backup, held(), held()) == Added()
    assert str(Added()) == "nothing"
    assert str(Added(start=True, descriptors=2, events=1, external_rows=5, stop=True)) == (
        "the start document, 2 descriptors, 1 event, 5 rows of external data, the stop document"
    )


def test_each_run_gets_one_line_saying_what_was_added_and_where_its_backup_is(tmp_path):
    path = tmp_path / "abc.jsonl"
    moved = tmp_path / RECOVERED_DIRNAME / "abc.jsonl"
    some = Added(events=70, stop=True)
    assert RunRecovery("u", 7, path, some, [], moved).line() == (
        f"u (scan 7): added 70 events, the stop document; complete in Tiled; backup moved "
        f"to {moved}"
    )
    assert (
        RunRecovery("u", 7, path, Added(), [], moved)
        .line()
        .startswith("u (scan 7): nothing to add; complete in Tiled")
    )
    assert (
        RunRecovery("u", 7, path, some, [], None, stopped=False)
        .line()
        .endswith(
            "no stop document in its backup (the run is still open, or its process died with "
            f"no entry in the journal of open runs); backup kept in {path}"
        )
    )
    assert (
        RunRecovery("u", 7, path, some, ["3 events of 'trace'"], None)
        .line()
        .endswith(f"still missing 3 events of 'trace'; backup kept in {path}")
    )


def test_runs_that_went_to_the_backup_are_named_in_one_line(capsys, tmp_path):
    assert report_backed_up([]) is False
    assert capsys.readouterr().err == ""
    runs = [BackedUpRun("u1", 3, tmp_path / "u1.jsonl"), BackedUpRun("u2", 4, tmp_path / "u2")]
    assert report_backed_up(runs) is True
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("acq: 2 runs did not reach Tiled in full")
    for run in runs:
        assert f"{run.uid} (scan {run.scan_id}) in {run.path}" in line
    assert line.endswith("`acq recover` uploads them")


def test_backups_are_the_files_named_as_tiledwriter_names_them_not_the_recovered(tmp_path):
    backup_dir = backup_directory(tmp_path)
    assert backups(backup_dir) == []
    (start,) = (doc for name, doc in a_run(0) if name == "start")
    path = backup_file(backup_dir, start)
    assert path == backup_dir / f"{start['uid'][:8]}.jsonl"
    (backup_dir / RECOVERED_DIRNAME).mkdir(parents=True)
    write_lines(backup_dir / RECOVERED_DIRNAME / "old.jsonl", a_run(1))
    write_lines(path, a_run(1))
    assert backups(backup_dir) == [path]


def test_acq_recover_with_no_backups_or_open_runs_says_so_without_reaching_tiled(
    config, tmp_path, capsys
):
    # The config's Tiled is not serving: nothing is asked of it when there is nothing to do.
    assert main(["recover", "--config", str(write_toml(config, tmp_path / "s.toml"))]) == 0
    assert capsys.readouterr().out == (
        f"no backups under {backup_directory(config.station.data_dir)}, no open runs in "
        f"{open_runs_directory(config.station.data_dir)}: nothing to recover\n"
    )
    assert recover(config) == 0
