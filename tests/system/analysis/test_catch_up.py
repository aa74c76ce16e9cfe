"""The live analysis catching up from Tiled on runs it did not see: which runs it takes, and a
run whose analysis fails is recorded as failed once, not tried again at every start."""

from __future__ import annotations

import event_model
import pytest
from bluesky_tiled_plugins import TiledWriter

from acq.analysis.live import LiveAnalysis, missed_runs
from acq.analysis.results import analysis_runs_of
from acq.runtime.tiled_client import connect
from acq.services import EmbeddedTiled

#: A cell as the station's RunEngine records it (``start['cell']``).
CELL = {
    "area_cm2": 0.785,
    "electrode_mass_mg": 20.0,
    "active_mass_fraction": 0.7,
    "electrolyte_mass_mg": 60.0,
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A Tiled catalog of this module's own: catch-up looks at every run in it."""
    with EmbeddedTiled(tmp_path_factory.mktemp("catch_up"), []) as server:
        yield connect(server.uri, server.api_key)


def _raw_run(client, metadata: dict, *, finished: bool = True) -> str:
    """A raw run of one event, written by bluesky's TiledWriter."""
    writer = TiledWriter(client["raw"])
    run = event_model.compose_run(metadata=metadata)
    writer("start", run.start_doc)
    descriptor = run.compose_descriptor(
        name="primary", data_keys={"x": {"source": "test", "dtype": "number", "shape": []}}
    )
    writer("descriptor", descriptor.descriptor_doc)
    writer("event", descriptor.compose_event(data={"x": 1.0}, timestamps={"x": 0.0}))
    if finished:
        writer("stop", run.compose_stop())
    return run.start_doc["uid"]


def test_a_failed_analysis_is_recorded_and_not_tried_again(client):
    broken = _raw_run(client, {"cell": {}})  # no geometry: the analysis raises
    _raw_run(client, {"plan_name": "count"})  # no cell: not a station run
    _raw_run(client, {"cell": {}}, finished=False)  # no stop: not finished
    _raw_run(client, {"cell": {}, "replay": True})  # a plan replay
    assert missed_runs(client) == [broken]

    lines: list[str] = []
    assert LiveAnalysis(client, report=lines.append).catch_up() == []
    (failed,) = analysis_runs_of(client["analysis"], broken)
    assert failed.metadata["start"]["caught_up"] is True
    assert failed.metadata["stop"]["exit_status"] == "fail"
    assert "KeyError" in failed.metadata["stop"]["reason"]
    assert any("recorded" in line and broken[:8] in line for line in lines), lines

    # a worker started again does not try it again
    assert missed_runs(client) == []
    assert LiveAnalysis(client, report=lines.append).catch_up() == []
    assert len(analysis_runs_of(client["analysis"], broken)) == 1


def test_a_stop_whose_start_was_missed_is_analysed_from_tiled_once(client):
    uid = _raw_run(client, {"cell": CELL})
    analysis = LiveAnalysis(client, report=lambda line: None, run_timeout_s=5)
    stop = client["raw"][uid].metadata["stop"]
    analysis("stop", stop)  # the worker started listening mid-run
    analysis("stop", stop)
    (run,) = analysis_runs_of(client["analysis"], uid)
    assert run.metadata["start"]["caught_up"] is True
    assert run.metadata["stop"]["exit_status"] == "success"
    assert "summary" in run
    assert missed_runs(client) == []
