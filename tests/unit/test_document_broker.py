"""The broker's message bodies (`acq.runtime.document_broker`): documents and run claims
come back as they went in, numpy arrays included; subjects name the run."""

from __future__ import annotations

import numpy as np

from acq.runtime.document_broker import (
    DOCUMENTS_SUBJECT,
    RunClaim,
    decode,
    document_subject,
    encode,
)


def test_a_document_with_arrays_comes_back_as_it_went_in():
    event = {
        "uid": "e1",
        "descriptor": "d1",
        "seq_num": 3,
        "time": 1.7e9,
        "data": {"pstat_eis_z_real_ohm": np.linspace(1.0, 2.0, 71), "press_pressure_MPa": 6.0},
        "timestamps": {"pstat_eis_z_real_ohm": 1.7e9, "press_pressure_MPa": 1.7e9},
    }
    name, doc = decode(encode("event", event))
    assert name == "event"
    np.testing.assert_array_equal(
        doc["data"]["pstat_eis_z_real_ohm"], event["data"]["pstat_eis_z_real_ohm"]
    )
    assert doc["data"]["press_pressure_MPa"] == 6.0
    assert doc["seq_num"] == 3 and doc["descriptor"] == "d1"


def test_a_claim_names_the_run_its_station_and_circuit():
    claim = RunClaim("0f3a-uid", "ssb-sim", "R0-RQ-RQ-W")
    assert RunClaim.decode(claim.encode()) == claim


def test_each_run_has_a_subject_of_its_own_under_the_documents_stream():
    assert document_subject("abc-123") == f"{DOCUMENTS_SUBJECT}.abc-123"
    assert document_subject("a") != document_subject("b")
