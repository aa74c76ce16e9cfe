"""A fly CT on the session's station over Channel Access, its frames overlapping its motions:
every flat taken with the sample out (its readback in the flat's event, the frame as bright as
a flat), every dark dark, the sample back in and the shutter closed at the end, and the CT's
own timing recorded (`plans.ct_timing`)."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest

from conventions import data_keys
from plans import ct_scan
from tests.system.test_beam_loss import in_stream, referenced_means


def test_flats_are_taken_with_the_sample_out_and_the_ct_records_its_overhead(
    RE, station, station_config
):
    stage = station.tomo_stage
    RE(bps.mv(stage.rotation, 170.0, stage.sample_x, 0.0))  # far from the pass's start
    RE(
        ct_scan(
            stage,
            station.detector,
            num_projections=11,
            num_darks=3,
            num_flats=3,
            exposure_s=0.05,
            position_compare=station.position_compare,
            clock=station.clock,
        )
    )
    documents = RE.documents
    (stop,) = [doc for name, doc in documents if name == "stop"]
    assert stop["exit_status"] == "success", stop
    sample_key = stage.sample_x.user_readback.name
    out_mm, in_mm = stage.sample_out_mm.get(), stage.sample_in_mm.get()
    flats = in_stream(documents, data_keys.FLAT)
    assert len(flats) == 3
    assert all(e["data"][sample_key] == pytest.approx(out_mm, abs=1e-3) for e in flats)
    flat_means = referenced_means(documents, data_keys.FLAT)
    dark = max(referenced_means(documents, data_keys.DARK))
    assert min(flat_means) > 2 * dark and max(flat_means) < 1.2 * min(flat_means)
    projections = referenced_means(documents, data_keys.PRIMARY)
    assert len(projections) == 11 and max(projections) < min(flat_means)
    # Left as a CT leaves it: sample in, shutter closed.
    assert stage.sample_x.user_readback.get(use_monitor=False) == pytest.approx(in_mm, abs=1e-3)
    assert stage.shutter.get() == "Closed"
    (timing,) = in_stream(documents, data_keys.CT_TIMING)
    data = timing["data"]
    # Every frame's exposure in wall seconds: the station's clock runs time_scale times fast.
    floor_s = (11 + 3 + 3) * 0.05 / station_config.station.time_scale
    assert data["ct_exposure_floor_s"] == pytest.approx(floor_s)
    assert data["ct_overhead_ratio"] == pytest.approx(data["ct_wall_s"] / floor_s)
    # The wall includes at least every frame's exposure.
    assert data["ct_overhead_ratio"] > 1.0
