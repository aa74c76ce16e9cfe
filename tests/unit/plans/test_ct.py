"""`ct_scan` with bluesky's RunEngineSimulator on the fake station: darks, flats and
projections, step or fly, the shutter closed however it ends, limits before anything moves."""

from __future__ import annotations

import pytest
from bluesky.utils import FailedStatus
from ophyd.utils.errors import LimitError

from conventions import data_keys
from conventions.pv_states import Shutter
from plans import ct_scan
from tests.unit.conftest import ROTATION_LIMITS, finished_status
from tests.unit.plans.helpers import commands, run_until, start_of


def test_a_step_scan_takes_darks_flats_then_projections_by_reference(sim, fake_station):
    stage, det = fake_station.tomo_stage, fake_station.detector
    messages = sim.simulate_plan(
        ct_scan(stage, det, num_projections=5, num_darks=2, num_flats=3, exposure_s=0.1)
    )
    creates = [m.kwargs["name"] for m in commands(messages, "create")]
    assert creates == [data_keys.DARK] * 2 + [data_keys.FLAT] * 3 + [data_keys.PRIMARY] * 5
    angles = [m.args[0] for m in commands(messages, "set", "tomo_rotation")]
    assert angles == pytest.approx([0.0, 0.0, 45.0, 90.0, 135.0, 180.0])
    shutter = [m.args[0] for m in commands(messages, "set", "tomo_shutter")]
    assert shutter == [Shutter.CLOSED, Shutter.OPEN, Shutter.CLOSED, Shutter.CLOSED]
    assert len(commands(messages, "stage", "det")) == len(commands(messages, "unstage", "det"))
    start = start_of(messages)
    assert start["technique"]["num_projections"] == 5
    assert start["technique"]["exposure_s"] == 0.1
    assert start["technique"]["sample_out_mm"] == stage.sample_out_mm.get()
    assert start["motors"] == ["tomo_rotation"] and start["num_points"] == 5
    assert start["hints"]["dimensions"] == [[["tomo_rotation"], "primary"]]


def test_a_fly_scan_stages_prepares_kicks_off_completes_and_collects(sim, fake_station):
    stage, det, pc = fake_station.tomo_stage, fake_station.detector, fake_station.position_compare
    for command in ("prepare", "kickoff", "complete"):
        sim.add_handler(command, finished_status)
    messages = sim.simulate_plan(
        ct_scan(stage, det, num_projections=5, num_darks=1, num_flats=1, position_compare=pc)
    )
    fly = [
        m.command
        for m in messages
        if m.command in ("stage", "prepare", "kickoff", "complete", "collect", "unstage")
    ]
    assert fly[-6:] == ["stage", "prepare", "kickoff", "complete", "collect", "unstage"]
    spec = commands(messages, "prepare")[0].args[0]
    assert (spec.start_deg, spec.stop_deg, spec.num_frames) == (0.0, 180.0, 5)
    assert not commands(messages, "set", "tomo_rotation")[1:]  # no step moves
    start = start_of(messages)
    assert start["technique"]["acquisition"] == "fly"
    assert start["plan_args"]["position_compare"] == "pc"


def test_a_failed_fly_scan_stops_the_flyer_and_closes_the_shutter(sim, fake_station):
    stage, det, pc = fake_station.tomo_stage, fake_station.detector, fake_station.position_compare
    plan = ct_scan(stage, det, num_projections=5, num_darks=1, num_flats=1, position_compare=pc)
    messages = run_until(sim, plan, lambda m: m.command == "complete", FailedStatus("stalled"))
    assert commands(messages, "stop")[0].obj.name == "ct_flyer"
    assert commands(messages, "close_run")[0].kwargs["exit_status"] == "fail"
    assert [m.args[0] for m in commands(messages, "set", "tomo_shutter")][-1] == Shutter.CLOSED


def test_a_fly_scan_refuses_a_run_up_beyond_the_rotation_limits(sim, fake_station):
    """At the limit, a step scan fits; a fly scan's run-up before the first angle does not."""
    stage, det = fake_station.tomo_stage, fake_station.detector
    low = ROTATION_LIMITS[0]
    sim.simulate_plan(ct_scan(stage, det, start_deg=low, stop_deg=low + 180.0, num_projections=3))
    with pytest.raises(LimitError):
        sim.simulate_plan(
            ct_scan(
                stage,
                det,
                start_deg=low,
                stop_deg=low + 180.0,
                position_compare=fake_station.position_compare,
            )
        )


@pytest.mark.parametrize(
    "kwargs",
    [{"stop_deg": 1e6}, {"num_projections": 1}, {"exposure_s": 0.0}, {"start_deg": float("nan")}],
)
def test_a_scan_the_stage_cannot_make_is_refused_before_anything_moves(sim, fake_station, kwargs):
    with pytest.raises((LimitError, ValueError)):
        sim.simulate_plan(ct_scan(fake_station.tomo_stage, fake_station.detector, **kwargs))
