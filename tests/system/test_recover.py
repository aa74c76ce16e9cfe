"""Tiled killed mid-run: the run's documents go to the backup, the command says so, and
``acq recover`` completes the partial run in place, document by document, idempotently. The
process running a run killed mid-run: ``acq recover`` closes the run ("fail") from what Tiled or
its backup recorded of it, once.

Each test of a Tiled kill kills a Tiled server of its own (SIGKILL, as a crash or an OOM
killer would) on a catalog under its own data directory, restarts it on the same catalog and
port, and recovers; each test of a process killed kills it (SIGKILL) with its run open.
TiledWriter's client retries a dead server for ``TILED_RETRY_TIMEOUT`` (45 s by default):
set to 2 s here, so a run gives up on it sooner (what it does then is unchanged).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import event_model
import numpy as np
import psutil
import pytest
from bluesky_tiled_plugins import TiledWriter
from tiled.client import utils as tiled_client_utils

from acq.analysis.results import ALL_ARRAYS_AS_ZARR
from acq.config import StationConfig, parse_config
from acq.runtime.engine import make_run_engine
from acq.runtime.open_runs import open_runs_directory
from acq.runtime.recovery import RECOVERED_DIRNAME, recover, recover_file
from acq.runtime.streaming import backup_directory, backup_file
from acq.runtime.tiled_client import connect
from acq.services import EmbeddedTiled
from conventions.pv_states import TechniqueState
from plans import galvanostatic_cycles, pressure_step
from tests.open_run_writer import open_run_writer
from tests.stations import write_toml

#: Seconds TiledWriter's client keeps retrying a dead server (``TILED_RETRY_TIMEOUT``).
RETRY_TIMEOUT_S = 2.0
#: Events of the ``trace`` stream written to Tiled before it is killed (in-process test).
EVENTS_BEFORE_KILL = 8
#: Stack pressure the cell is cycled at (an unpressed cell has almost no capacity), MPa.
PRESSURE_MPA = 25.0
#: A half cycle of ≈250 h of experiment time: ≈9 s on the test station's clock, so Tiled is
#: killed while the current flows.
SLOW_C_RATE = 0.004


#: The ``acq`` command, as this interpreter runs it.
ACQ = (sys.executable, "-m", "acq.cli")


def slow_cycling_command(config_file: Path) -> list[str]:
    """``acq run`` of one `SLOW_C_RATE` half cycle on the station of ``config_file``."""
    return [
        *ACQ,
        *("run", "galvanostatic_cycles"),
        *("--config", str(config_file)),
        *("--param", f"c_rate={SLOW_C_RATE}", "--param", "poll_interval_s=0.05"),
    ]


def own_station_config(station_config: StationConfig, data_dir: Path, tiled: EmbeddedTiled):
    """The session station's config with data (backup, scan ids) under ``data_dir`` and
    documents to ``tiled``."""
    raw = station_config.model_dump(mode="json")
    raw["station"]["data_dir"] = str(data_dir)
    raw["tiled"].update(uri=tiled.uri, api_key=tiled.api_key)
    return parse_config(raw)


@pytest.fixture
def pressed_cell(station, station_config):
    """The session's cell held at `PRESSURE_MPA` (a run of its own, not streamed)."""
    make_run_engine(station_config, press=station.press).run(
        pressure_step(station.press, PRESSURE_MPA)
    )


def kill_listener(port: int) -> None:
    """SIGKILL the process listening on loopback TCP ``port``, and wait until it is gone."""
    (pid,) = {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.laddr.port == port and c.status == psutil.CONN_LISTEN
    }
    process = psutil.Process(pid)
    os.kill(pid, signal.SIGKILL)
    process.wait(10)


def json_roundtrip(doc: dict) -> dict:
    """A document as TiledWriter was given it (`event_model.sanitize_doc`) and JSON keeps it."""
    return json.loads(json.dumps(event_model.sanitize_doc(doc)))


def unpaged(documents: list[tuple[str, dict]]) -> list[dict]:
    """The documents, event pages as their events (as the RunEngine emitted them: bluesky's
    RunRouter, in TiledWriter, packs each event into a page)."""
    return [
        unpacked
        for name, doc in documents
        for unpacked in (event_model.unpack_event_page(doc) if name == "event_page" else [doc])
    ]


def assert_tiled_holds(raw, emitted: list[tuple[str, dict]]) -> None:
    """Tiled's run holds every document of ``emitted`` (start, each descriptor, every event's
    data and timestamps, the stop), each once."""
    documents = [(name, json_roundtrip(doc)) for name, doc in emitted]
    start = documents[0][1]
    run = raw[start["uid"]]
    assert run.metadata["start"] == start
    descriptors = [doc for name, doc in documents if name == "descriptor"]
    streams = {
        doc["name"]: [d for d in descriptors if d["name"] == doc["name"]] for doc in descriptors
    }
    assert set(run.base) == set(streams)
    for name, (descriptor, *later) in streams.items():
        stream = run.base[name].base
        held = stream.metadata
        assert (held["uid"], held["time"]) == (descriptor["uid"], descriptor["time"])
        for key, spec in descriptor["data_keys"].items():
            for field in ("dtype", "shape", "source", "units", "precision"):
                assert held["data_keys"][key].get(field) == spec.get(field), (key, field)
        for device, configuration in descriptor["configuration"].items():
            assert held["configuration"][device]["data"] == configuration["data"]
            assert held["configuration"][device]["timestamps"] == configuration["timestamps"]
        assert [  # each later descriptor (a configuration change) once
            (update["uid"], update["time"], _data(update["configuration"]))
            for update in held.get("_config_updates", [])
        ] == [(doc["uid"], doc["time"], _data(doc["configuration"])) for doc in later]
        uids = {doc["uid"] for doc in (descriptor, *later)}
        events = [doc for n, doc in documents if n == "event" and doc["descriptor"] in uids]
        if not events:  # a stream with no events has no table (e.g. `interruptions`)
            assert "internal" not in stream
            continue
        table = stream["internal"].read()
        assert sorted(table["seq_num"]) == [event["seq_num"] for event in events]  # each once
        rows = table.set_index("seq_num")
        arrays = {
            key: stream[key].read()
            for key, spec in descriptor["data_keys"].items()
            if spec["dtype"] == "array"
        }
        for key, array in arrays.items():
            assert array.shape[0] == len(events), key
        for event in events:
            row = rows.loc[event["seq_num"]]
            assert row["time"] == event["time"]
            for key, value in event["data"].items():
                held_value = arrays[key][event["seq_num"] - 1] if key in arrays else row[key]
                np.testing.assert_equal(held_value, value, err_msg=f"{name} {key}")
                assert row[f"ts_{key}"] == event["timestamps"][key]
    name, last = documents[-1]
    assert run.metadata.get("stop") == (last if name == "stop" else None)


def _data(configuration: dict) -> dict:
    return {device: values["data"] for device, values in configuration.items()}


@pytest.fixture
def short_retries(monkeypatch):
    # TILED_RETRY_TIMEOUT is read as tiled's client is imported: set its module's value.
    monkeypatch.setattr(tiled_client_utils, "TILED_RETRY_TIMEOUT", RETRY_TIMEOUT_S)


def test_a_run_across_a_tiled_kill_is_completed_in_place_by_recover(
    station, station_config, pressed_cell, tmp_path, short_retries, capsys
):
    with EmbeddedTiled(tmp_path, [station_config.frames_dir]) as tiled_server:
        config = own_station_config(station_config, tmp_path, tiled_server)
        engine = make_run_engine(config, connect(tiled_server.uri, tiled_server.api_key))
        emitted: list[tuple[str, dict]] = []
        engine.RE.subscribe(lambda name, doc: emitted.append((name, copy.deepcopy(doc))))
        trace_events = []

        def kill_tiled_mid_run(name, doc):
            descriptors = {d["uid"]: d["name"] for n, d in emitted if n == "descriptor"}
            if name == "event" and descriptors[doc["descriptor"]] == "trace":
                trace_events.append(doc)
                if len(trace_events) == EVENTS_BEFORE_KILL:
                    assert engine.writer.flush(30)  # these are in Tiled: the rest is not
                    kill_listener(tiled_server.port)

        engine.RE.subscribe(kill_tiled_mid_run, "event")
        (uid,) = engine.run(
            galvanostatic_cycles(
                station.potentiostat, cycles=1, c_rate=SLOW_C_RATE, poll_interval_s=0.05
            )
        )
        engine.close()
    assert len(trace_events) > EVENTS_BEFORE_KILL, "the run ended with the kill"
    assert [run.uid for run in engine.writer.backed_up] == [uid]
    backup = engine.writer.backed_up[0].path
    assert backup == backup_file(backup_directory(tmp_path), emitted[0][1])
    kept = [json.loads(line) for line in backup.read_text().splitlines()]
    assert unpaged([(entry["name"], entry["doc"]) for entry in kept]) == [
        json_roundtrip(doc) for name, doc in emitted
    ]

    with EmbeddedTiled(tmp_path, [station_config.frames_dir], port=tiled_server.port) as again:
        raw = connect(again.uri, again.api_key)["raw"]
        partial = raw[uid]
        assert "stop" not in partial.metadata
        assert len(partial.base["trace"].base["internal"].read()) == EVENTS_BEFORE_KILL
        capsys.readouterr()

        assert recover(config) == 0
        (line,) = capsys.readouterr().out.splitlines()
        missing_events = sum(name == "event" for name, doc in emitted) - EVENTS_BEFORE_KILL
        assert line.startswith(f"{uid} (scan {emitted[0][1]['scan_id']}): added ")
        assert f"{missing_events} events" in line and "the stop document" in line
        assert "complete in Tiled" in line
        assert not backup.exists()
        assert (backup.parent / RECOVERED_DIRNAME / backup.name).exists()
        assert_tiled_holds(raw, emitted)

        assert recover(config) == 0  # nothing left to do, and it says so
        assert "nothing to recover" in capsys.readouterr().out
        shutil.copy(backup.parent / RECOVERED_DIRNAME / backup.name, backup)  # once more
        assert recover(config) == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert "nothing to add; complete in Tiled" in line
        assert (backup.parent / RECOVERED_DIRNAME / f"{backup.stem}.1.jsonl").exists()
        assert_tiled_holds(raw, emitted)  # the same documents, each still once


def test_acq_run_across_a_tiled_kill_says_where_its_documents_are_and_fails(
    station, station_config, pressed_cell, tmp_path
):
    with EmbeddedTiled(tmp_path, [station_config.frames_dir]) as tiled_server:
        config = own_station_config(station_config, tmp_path, tiled_server)
        config_file = write_toml(config, tmp_path / "station.toml")
        environment = {**os.environ, "TILED_RETRY_TIMEOUT": str(RETRY_TIMEOUT_S)}
        command = subprocess.Popen(
            slow_cycling_command(config_file),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        try:
            pstat = station.potentiostat
            deadline = time.monotonic() + 60
            while pstat.state.get(use_monitor=False) != TechniqueState.RUNNING:
                assert command.poll() is None, command.communicate()
                assert time.monotonic() < deadline, "the half cycle never started"
                time.sleep(0.05)
            time.sleep(1.0)  # some trace events into Tiled
            kill_listener(tiled_server.port)
            stdout, stderr = command.communicate(timeout=120)
        finally:
            if command.poll() is None:
                command.kill()
    assert command.returncode == 1, stdout[-2000:] + stderr[-3000:]
    (notice,) = [line for line in stderr.splitlines() if "did not reach Tiled" in line]
    (backup,) = backup_directory(tmp_path).glob("*.jsonl")
    uid = json.loads(backup.read_text().splitlines()[0])["doc"]["uid"]
    assert uid in notice and str(backup) in notice and "`acq recover` uploads them" in notice
    assert "container 'raw'" not in stdout  # no claim that the run is in Tiled

    with EmbeddedTiled(tmp_path, [station_config.frames_dir], port=tiled_server.port) as again:
        recover_command = [*ACQ, "recover", "--config", str(config_file)]
        first = subprocess.run(recover_command, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr[-3000:]
        (line,) = first.stdout.splitlines()
        assert line.startswith(uid) and "complete in Tiled" in line
        run = connect(again.uri, again.api_key)["raw"][uid]
        stop = run.metadata["stop"]
        for stream, count in stop["num_events"].items():
            if count:  # (a stream without events has no table)
                assert len(run.base[stream].base["internal"].read()) == count, stream
        second = subprocess.run(recover_command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0 and "nothing to recover" in second.stdout
        assert run.metadata["stop"] == stop


# --- partial runs made by hand: what a write cut short can leave ---------------------------


@pytest.fixture(scope="module")
def handmade_tiled(tmp_path_factory):
    """A Tiled server for the runs made by hand."""
    with EmbeddedTiled(tmp_path_factory.mktemp("handmade"), []) as server:
        yield server


@pytest.fixture
def handmade_raw(handmade_tiled):
    """The ``raw`` container of `handmade_tiled`."""
    return connect(handmade_tiled.uri, handmade_tiled.api_key)["raw"]


def handmade_run(events: int) -> list[tuple[str, dict]]:
    """A run with a stream of scalars and 3-point arrays, and a second descriptor of it (a
    configuration change) after the first event."""
    run = event_model.compose_run()
    keys = {
        "v": {"source": "sim", "dtype": "number", "shape": []},
        "spectrum": {"source": "sim", "dtype": "array", "shape": [3], "dtype_numpy": "<f8"},
    }

    def configuration(gain: int) -> dict:
        gain_key = {"gain": {"source": "sim", "dtype": "integer", "shape": []}}
        return {
            "sim": {"data": {"gain": gain}, "timestamps": {"gain": 1e9}, "data_keys": gain_key}
        }

    first = run.compose_descriptor(name="primary", data_keys=keys, configuration=configuration(1))
    second = run.compose_descriptor(name="primary", data_keys=keys, configuration=configuration(2))
    documents = [("start", run.start_doc), ("descriptor", first.descriptor_doc)]
    for n in range(events):
        bundle = first if n == 0 else second
        if n == 1:
            documents.append(("descriptor", second.descriptor_doc))
        data = {"v": float(n), "spectrum": [n, n + 0.5, n + 0.25]}
        documents.append(
            ("event", bundle.compose_event(data=data, timestamps=dict.fromkeys(data, 1e9 + n)))
        )
    documents.append(("stop", run.compose_stop()))
    return documents


def write_backup(path: Path, documents: list[tuple[str, dict]]) -> Path:
    path.write_text("".join(json.dumps({"name": n, "doc": d}) + "\n" for n, d in documents))
    return path


def partly_written(raw, documents: list[tuple[str, dict]]) -> None:
    """What TiledWriter leaves of ``documents`` when Tiled dies as it writes the 4th event:
    the run up to the 3rd event, and the 4th event's array but not its row."""
    live = TiledWriter(raw, batch_size=1, max_array_size=ALL_ARRAYS_AS_ZARR)
    for name, doc in documents[:6]:  # start, descriptor, event 1, descriptor 2, events 2, 3
        live(name, doc)
    stream = raw[documents[0][1]["uid"]].base["primary"].base
    fourth = np.array([documents[6][1]["data"]["spectrum"]])
    stream["spectrum"].patch(fourth, offset=(3,), extend=True)
    assert stream["spectrum"].shape[0] == 4 and len(stream["internal"].read()) == 3


@pytest.mark.parametrize("stopped", [True, False], ids=["in bulk", "row by row"])
def test_an_array_written_ahead_of_its_table_row_is_resumed_without_a_duplicate(
    handmade_raw, tmp_path, stopped
):
    documents = handmade_run(events=6)
    partly_written(handmade_raw, documents)
    backup = documents if stopped else documents[:-1]  # no stop: written a row at a time

    (result,) = recover_file(handmade_raw, write_backup(tmp_path / "run.jsonl", backup))
    assert str(result.added) == "3 events" + (", the stop document" if stopped else "")
    assert (result.moved_to is not None) == stopped
    assert_tiled_holds(handmade_raw, backup)
    updates = handmade_raw[documents[0][1]["uid"]].base["primary"].metadata["_config_updates"]
    assert [update["uid"] for update in updates] == [documents[3][1]["uid"]]  # recorded once


def test_rows_tiled_holds_are_not_written_again(handmade_raw, tmp_path):
    documents = handmade_run(events=6)
    partly_written(handmade_raw, documents)
    spectrum = handmade_raw[documents[0][1]["uid"]].base["primary"].base["spectrum"]
    # Mark the rows Tiled holds (values the backup does not have): they stay as they are.
    marked = np.full((4, 3), -1.0)
    spectrum.patch(marked, offset=(0,))
    recover_file(handmade_raw, write_backup(tmp_path / "run.jsonl", documents))
    held = handmade_raw[documents[0][1]["uid"]].base["primary"].base["spectrum"].read()
    np.testing.assert_array_equal(held[:4], marked)
    np.testing.assert_array_equal(held[4:], [doc["data"]["spectrum"] for _, doc in documents[7:9]])


def test_a_run_tiled_never_saw_is_written_whole(handmade_raw, tmp_path):
    documents = handmade_run(events=4)
    (result,) = recover_file(handmade_raw, write_backup(tmp_path / "run.jsonl", documents))
    assert str(result.added) == "the start document, 2 descriptors, 4 events, the stop document"
    assert_tiled_holds(handmade_raw, documents)


def backed_up(data_dir: Path, documents: list[tuple[str, dict]]) -> Path:
    """``documents`` in the backup under ``data_dir``, in the file TiledWriter names."""
    backup_dir = backup_directory(data_dir)
    backup_dir.mkdir(parents=True)
    return write_backup(backup_file(backup_dir, documents[0][1]), documents)


def test_a_backup_without_a_stop_document_whose_process_lives_is_uploaded_and_kept(
    station_config, handmade_tiled, handmade_raw, tmp_path, capsys
):
    config = own_station_config(station_config, tmp_path, handmade_tiled)
    documents = handmade_run(events=4)[:-1]  # the run still open in a live process
    uid = documents[0][1]["uid"]
    path = backed_up(tmp_path, documents)
    with open_run_writer(open_runs_directory(tmp_path), documents[0][1]) as writer:
        assert recover(config) == 1
        still_open, uploaded = capsys.readouterr().out.splitlines()
        assert still_open.startswith(f"{uid} (scan None): still open (pid {writer.pid} on ")
        assert still_open.endswith("; left open")
        assert uploaded.startswith(f"{uid} (scan None): added ")
        assert "no stop document in its backup" in uploaded and path.exists()
        table = handmade_raw[uid].base["primary"].base["internal"].read()
        assert list(table["seq_num"]) == [1, 2, 3, 4]
        assert "stop" not in handmade_raw[uid].metadata
        assert recover(config) == 1
        assert "nothing to add" in capsys.readouterr().out.splitlines()[1]
        assert list(open_runs_directory(tmp_path).glob("*.json"))  # its entry left as it was


def test_a_backup_without_a_stop_document_whose_process_died_is_closed_and_uploaded(
    station_config, handmade_tiled, handmade_raw, tmp_path, capsys
):
    config = own_station_config(station_config, tmp_path, handmade_tiled)
    documents = handmade_run(events=6)[:-1]
    uid = documents[0][1]["uid"]
    partly_written(handmade_raw, documents)  # Tiled died mid-run: the rest went to the backup
    path = backed_up(tmp_path, documents)
    with path.open("a") as backup:  # then the process was killed as it wrote a line
        backup.write('{"name": "event_page", "doc": {"uid"')
    with open_run_writer(open_runs_directory(tmp_path), documents[0][1]) as writer:
        pass  # killed as the block ends
    assert recover(config) == 0
    closed, uploaded = capsys.readouterr().out.splitlines()
    assert closed.startswith(
        f"{uid} (scan None): its process (pid {writer.pid} on {socket.gethostname()}) ended "
        f'without closing it; closed "fail" (6 events, its last document at '
    )
    assert closed.endswith(f"in its backup {path}; journal entry removed")
    moved = path.parent / RECOVERED_DIRNAME / path.name
    assert uploaded == (
        f"{uid} (scan None): added 3 events, the stop document; complete in Tiled; backup "
        f"moved to {moved}"
    )
    stop = handmade_raw[uid].metadata["stop"]
    event_model.schema_validators[event_model.DocumentNames.stop].validate(stop)
    assert (stop["run_start"], stop["exit_status"]) == (uid, "fail")
    assert stop["reason"].startswith(
        f"the acquisition process (pid {writer.pid} on {socket.gethostname()}) ended without "
        "closing the run; `acq recover` closed it from what its backup recorded of it"
    )
    assert stop["num_events"] == {"primary": 6}
    assert stop["time"] == documents[-1][1]["time"]  # the last event's
    assert_tiled_holds(handmade_raw, [*documents, ("stop", stop)])
    last_line = moved.read_text().splitlines()[-1]  # after the documents, the fragment cut off
    assert json.loads(last_line) == {"name": "stop", "doc": stop}
    assert read_backup_documents(moved) == [*documents, ("stop", stop)]
    assert list(open_runs_directory(tmp_path).iterdir()) == []

    assert recover(config) == 0  # nothing left to do
    assert "nothing to recover" in capsys.readouterr().out
    assert handmade_raw[uid].metadata["stop"] == stop


def read_backup_documents(path: Path) -> list[tuple[str, dict]]:
    """Every line of the backup file ``path``, as documents."""
    return [(entry["name"], entry["doc"]) for entry in map(json.loads, path.open())]


def trace_rows_in_tiled(raw, journal_dir: Path) -> bool:
    """Whether Tiled holds a ``trace`` event of the run open in the journal (rather than a
    fixed wait, which a loaded machine outlasts)."""
    entries = list(journal_dir.glob("*.json"))
    if not entries or entries[0].stem not in raw or "trace" not in raw[entries[0].stem]:
        return False
    stream = raw[entries[0].stem].base["trace"].base
    return "internal" in stream and len(stream["internal"].read(["seq_num"])) > 0


def test_acq_run_killed_mid_run_is_closed_fail_in_tiled_by_recover(
    station, station_config, pressed_cell, tmp_path
):
    pstat = station.potentiostat
    with EmbeddedTiled(tmp_path, [station_config.frames_dir]) as tiled_server:
        config = own_station_config(station_config, tmp_path, tiled_server)
        config_file = write_toml(config, tmp_path / "station.toml")
        command = subprocess.Popen(
            slow_cycling_command(config_file), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while pstat.state.get(use_monitor=False) != TechniqueState.RUNNING:
                assert command.poll() is None, "acq run ended before its half cycle started"
                assert time.monotonic() < deadline, "the half cycle never started"
                time.sleep(0.05)
            raw = connect(tiled_server.uri, tiled_server.api_key)["raw"]
            while not trace_rows_in_tiled(raw, open_runs_directory(tmp_path)):
                assert command.poll() is None, "acq run ended before a trace event reached Tiled"
                assert time.monotonic() < deadline, "no trace event reached Tiled"
                time.sleep(0.1)
        finally:
            command.kill()
        command.wait(10)
        deadline = time.monotonic() + 10  # the IOC switches the cell off, frees the lock

        def left_running() -> bool:
            running = pstat.state.get(use_monitor=False) == TechniqueState.RUNNING
            return running or bool(station.lock.held.get(use_monitor=False))

        while left_running():
            assert time.monotonic() < deadline, "the killed run's technique or lock is left"
            time.sleep(0.05)
        (entry,) = open_runs_directory(tmp_path).glob("*.json")
        uid = entry.stem
        assert "stop" not in raw[uid].metadata
        assert not list(backup_directory(tmp_path).glob("*.jsonl"))  # all went to Tiled

        recover_command = [*ACQ, "recover", "--config", str(config_file)]
        first = subprocess.run(recover_command, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr[-3000:]
        (line,) = first.stdout.splitlines()
        writer = f"pid {command.pid} on {socket.gethostname()}"
        assert line.startswith(f"{uid} (scan {raw[uid].metadata['start']['scan_id']}): ")
        assert f"its process ({writer}) ended without closing it; closed " in line
        assert line.endswith("in Tiled; journal entry removed")
        held = raw[uid]
        stop = held.metadata["stop"]
        event_model.schema_validators[event_model.DocumentNames.stop].validate(stop)
        assert (stop["run_start"], stop["exit_status"]) == (uid, "fail")
        assert stop["reason"].startswith(
            f"the acquisition process ({writer}) ended without closing the run; `acq recover` "
            "closed it from what Tiled recorded of it"
        )
        assert set(stop["num_events"]) == set(held.base)
        times = [held.metadata["start"]["time"]]
        for name, count in stop["num_events"].items():
            stream = held.base[name].base
            times.append(stream.metadata["time"])
            table = stream["internal"].read() if "internal" in stream else None
            assert count == (0 if table is None else len(table)), name
            times += [] if table is None else list(table["time"])
        assert stop["num_events"]["trace"] > 0
        assert stop["time"] == max(times)  # the last document's
        assert not list(open_runs_directory(tmp_path).iterdir())

        second = subprocess.run(recover_command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0 and "nothing to recover" in second.stdout, second.stderr
        assert raw[uid].metadata["stop"] == stop
