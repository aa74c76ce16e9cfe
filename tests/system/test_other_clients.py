"""Clients this project did not write, against the station's embedded Tiled: databroker's v1
API, bluesky-tiled-plugins' ``BlueskyRun.documents()``, the ``tiled`` command line and plain
HTTP (README, "Reading the data with other clients").

One spectrum is run through the station's RunEngine (documents to Tiled as in any session)
with every document it emits collected; each client's documents must be those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from databroker import Broker
from event_model import sanitize_doc

from acq.runtime.engine import make_run_engine
from acq.runtime.tiled_client import TILED_API_KEY_VARIABLE
from plans import eis_sweep

TILED = str(Path(sys.executable).with_name("tiled"))
#: The uid the JSON-seq export gives an event: TiledWriter keeps a stream as a table, not
#: its events' uids (it also adds each data key's numpy dtype, and no event says what was
#: filled; `assert_documents_are_the_runs` allows for those three).
MADE_UP_EVENT_UID = "event-{descriptor}-{seq_num}"


@pytest.fixture(scope="module")
def spectrum(station, station_config, tiled_client) -> tuple[str, list[tuple[str, dict]]]:
    """A spectrum run through the station's RunEngine: its uid and the documents emitted."""
    engine = make_run_engine(station_config, tiled_client)
    emitted: list[tuple[str, dict]] = []
    engine.RE.subscribe(lambda name, doc: emitted.append((name, sanitize_doc(doc))))
    (uid,) = engine.RE(eis_sweep(station.potentiostat, points_per_decade=2))
    engine.close()
    return uid, json.loads(json.dumps(emitted))


def assert_documents_are_the_runs(got: list[tuple[str, dict]], emitted: list[tuple[str, dict]]):
    """``got`` holds what the RunEngine emitted, in its order: start, descriptors and stop
    as emitted (a descriptor's data keys with the dtype TiledWriter adds), events with
    their data, timestamps, times, descriptor and seq_num, under the export's made-up uid."""
    assert [name for name, _ in got] == [name for name, _ in emitted]
    for (name, doc), (_, sent) in zip(got, emitted, strict=True):
        if name == "event":
            expected = {k: v for k, v in sent.items() if k not in ("uid", "filled")}
            expected["uid"] = MADE_UP_EVENT_UID.format(**sent)
            assert {k: v for k, v in doc.items() if k != "filled"} == expected
        elif name == "descriptor":
            data_keys = {
                key: {k: v for k, v in value.items() if k != "dtype_numpy"}
                for key, value in doc["data_keys"].items()
            }
            assert data_keys == sent["data_keys"]
            assert {k: doc[k] for k in sent if k not in ("data_keys", "configuration")} == {
                k: v for k, v in sent.items() if k not in ("data_keys", "configuration")
            }
            assert doc["configuration"].keys() == sent["configuration"].keys()
        else:
            assert doc == sent


def test_databroker_v1_reads_back_the_run(spectrum, tiled_client):
    uid, emitted = spectrum
    db = Broker(tiled_client["raw"])
    header = db[uid]
    assert header.start["uid"] == uid
    assert header.stop["exit_status"] == "success"
    table = header.table()
    (event,) = [doc for name, doc in emitted if name == "event"]
    assert list(table["pstat_eis_z_real_ohm"].iloc[0]) == event["data"]["pstat_eis_z_real_ohm"]
    (got_event,) = header.events()
    assert got_event["data"] == event["data"] and got_event["seq_num"] == event["seq_num"]
    # databroker v1 hands each document out as a doct with its type under "_name".
    documents = [
        (name, {k: v for k, v in doc.items() if k != "_name"}) for name, doc in header.documents()
    ]
    assert_documents_are_the_runs(documents, emitted)
    assert uid in {found.start["uid"] for found in db(plan_name="eis_sweep")}
    assert uid not in {found.start["uid"] for found in db(plan_name="pressure_series")}
    # databroker's v1 API went through BlueskyRun.v2: the client still reads v3 runs as v3
    # (acq.runtime.tiled_client.StructureClients).
    z_real = tiled_client["raw"][uid]["primary"]["pstat_eis_z_real_ohm"].read()
    assert list(z_real[0]) == event["data"]["pstat_eis_z_real_ohm"]


def test_bluesky_tiled_plugins_run_gives_the_documents_back(spectrum, tiled_client):
    uid, emitted = spectrum
    assert_documents_are_the_runs(list(tiled_client["raw"][uid].documents()), emitted)


def test_plain_http_with_the_api_key(spectrum, tiled_server):
    uid, emitted = spectrum
    key = {"Authorization": f"Apikey {tiled_server.api_key}"}
    metadata = httpx.get(f"{tiled_server.uri}/api/v1/metadata/raw/{uid}", headers=key)
    assert metadata.status_code == 200
    assert metadata.json()["data"]["attributes"]["metadata"]["start"] == emitted[0][1]
    assert httpx.get(f"{tiled_server.uri}/api/v1/metadata/raw/{uid}").status_code == 401
    export = httpx.get(
        f"{tiled_server.uri}/api/v1/container/full/raw/{uid}",
        headers={**key, "Accept": "application/json-seq"},
    )
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/json-seq")
    records = [json.loads(record) for record in export.text.split("\x1e") if record.strip()]
    assert_documents_are_the_runs([(r["name"], r["doc"]) for r in records], emitted)


def test_the_tiled_command_line_lists_the_run_with_the_key_in_its_environment(
    spectrum, tiled_server, tmp_path
):
    uid, _ = spectrum
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TILED_PROFILES": str(tmp_path / "profiles"),
    }

    def tiled(*args: str, api_key: str | None = None) -> subprocess.CompletedProcess:
        key = {TILED_API_KEY_VARIABLE: api_key} if api_key else {}
        return subprocess.run(
            [TILED, *args],
            env={**env, **key},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )

    created = tiled("profile", "create", tiled_server.uri, "--name", "station")
    assert created.returncode == 0, created.stderr
    listed = tiled("tree", "--profile", "station", "100000", api_key=tiled_server.api_key)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "├── raw" in lines or "└── raw" in lines
    assert any(line.strip().endswith(uid) for line in lines), listed.stdout
    keyless = tiled("tree", "--profile", "station", "100000")
    assert keyless.returncode != 0 and uid not in keyless.stdout
