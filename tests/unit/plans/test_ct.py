"""`ct_scan` with bluesky's RunEngineSimulator on the fake station: darks, flats and
projections, step or fly, the shutter closed however it ends, limits before anything moves;
the frames overlapping the motions (darks as the sample moves out, flats with it out) and the
CT's own timing."""

from __future__ import annotations

import pytest
from bluesky.utils import FailedStatus
from ophyd.utils.errors import LimitError

from conventions import data_keys
from conventions.pv_states import Shutter
from plans import ct_scan
from plans.ct import ROTATION_MOVE, SAMPLE_MOVE
from tests.unit.conftest import ROTATION_LIMITS, finished_status
from tests.unit.plans.helpers import commands, run_until, start_of


def test_a_step_scan_takes_darks_flats_then_projections_by_reference(sim, fake_station):
    stage, det = fake_station.tomo_stage, fake_station.detector
    messages = sim.simulate_plan(
        ct_scan(stage, det, num_projections=5, num_darks=2, num_flats=3, exposure_s=0.1)
    )
    creates = [m.kwargs["name"] for m in commands(messages, "create")]
    assert creates == [data_keys.DARK] * 2 + [data_keys.FLAT] * 3 + [data_keys.PRIMARY] * 5 + [
        data_keys.CT_TIMING
    ]
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


def answer_sample_readback(sim, stage, short_once: bool = False) -> None:
    """Reads of the sample translation's readback answer where it was last sent (once
    ``short_once``: 1 mm short of it, as a move a pause stopped)."""
    sent = {"mm": stage.sample_in_mm.get()}
    short = [short_once]

    def record(message):
        sent["mm"] = message.args[0]
        return finished_status()

    def readback(message):
        value = sent["mm"] - (1.0 if short.pop() else 0.0) if short else sent["mm"]
        return {stage.sample_x.user_readback.name: {"value": value, "timestamp": 0.0}}

    sim.add_handler("set", record, stage.sample_x.name)
    sim.add_handler(
        "read", readback, lambda m: m.command == "read" and m.obj is stage.sample_x.user_readback
    )


def fly_messages(sim, fake_station, **kwargs):
    stage, det, pc = fake_station.tomo_stage, fake_station.detector, fake_station.position_compare
    for command in ("prepare", "kickoff", "complete"):
        sim.add_handler(command, finished_status)
    return sim.simulate_plan(
        ct_scan(
            stage, det, num_projections=5, num_darks=2, num_flats=2, position_compare=pc, **kwargs
        )
    )


def test_darks_overlap_the_sample_moving_out_and_the_rotation_going_to_its_run_up(
    sim, fake_station
):
    stage = fake_station.tomo_stage
    answer_sample_readback(sim, stage)
    messages = fly_messages(sim, fake_station)
    steps = [
        (m.command, m.obj.name if m.obj else m.kwargs.get("name") or m.kwargs.get("group"))
        for m in messages
    ]
    first_dark = steps.index(("create", data_keys.DARK))
    sample_out = commands(messages, "set", stage.sample_x.name)[0]
    rotation = commands(messages, "set", stage.rotation.name)[0]
    assert sample_out.args[0] == stage.sample_out_mm.get()
    assert sample_out.kwargs["group"] == SAMPLE_MOVE and rotation.kwargs["group"] == ROTATION_MOVE
    assert messages.index(sample_out) < first_dark and messages.index(rotation) < first_dark
    # The run-up start of the pass, not its first angle.
    spec = commands(messages, "prepare")[0].args[0]
    assert rotation.args[0] < spec.start_deg
    # No wait for either move until every dark is taken.
    last_dark = len(steps) - 1 - steps[::-1].index(("create", data_keys.DARK))
    waited = [m.kwargs.get("group") for m in commands(messages[:last_dark], "wait")]
    assert SAMPLE_MOVE not in waited and ROTATION_MOVE not in waited


def test_flats_are_taken_with_the_sample_out_and_it_moves_in_as_the_pass_is_prepared(
    sim, fake_station
):
    stage = fake_station.tomo_stage
    answer_sample_readback(sim, stage)
    messages = fly_messages(sim, fake_station)
    names = [(m.command, m.kwargs.get("name") or m.kwargs.get("group")) for m in messages]
    first_flat = names.index(("create", data_keys.FLAT))
    opened = next(
        i
        for i, m in enumerate(messages)
        if m.command == "set" and m.obj is stage.shutter and m.args[0] == Shutter.OPEN
    )
    # The shutter opens, and the flats start, only after the sample has arrived out.
    arrived_out = names.index(("wait", SAMPLE_MOVE))
    assert arrived_out < opened < first_flat
    sample_moves = commands(messages, "set", stage.sample_x.name)
    assert [m.args[0] for m in sample_moves] == [
        stage.sample_out_mm.get(),
        stage.sample_in_mm.get(),
    ]
    last_flat = len(names) - 1 - names[::-1].index(("create", data_keys.FLAT))
    sample_in = messages.index(sample_moves[1])
    assert sample_in > last_flat
    # Moving in while the projections' file opens and the pass is prepared; in before kickoff.
    commands_after = [m.command for m in messages[sample_in:]]
    assert commands_after.index("stage") < commands_after.index("prepare")
    in_wait = sample_in + next(
        i
        for i, m in enumerate(messages[sample_in:])
        if m.command == "wait" and m.kwargs.get("group") == SAMPLE_MOVE
    )
    assert messages.index(commands(messages, "prepare")[0]) < in_wait
    assert in_wait < messages.index(commands(messages, "kickoff")[0])


def test_a_sample_stopped_short_of_out_is_moved_again_before_the_shutter_opens(sim, fake_station):
    stage = fake_station.tomo_stage
    answer_sample_readback(sim, stage, short_once=True)
    messages = fly_messages(sim, fake_station)
    sample_moves = commands(messages, "set", stage.sample_x.name)
    out = stage.sample_out_mm.get()
    assert [m.args[0] for m in sample_moves][:2] == [out, out]
    opened = next(
        i
        for i, m in enumerate(messages)
        if m.command == "set" and m.obj is stage.shutter and m.args[0] == Shutter.OPEN
    )
    assert messages.index(sample_moves[1]) < opened


def test_the_ct_records_its_wall_time_against_its_exposure_floor(sim, fake_station):
    clock = fake_station.clock
    sim.add_read_handler_for(clock.time_scale, 10.0)
    messages = fly_messages(sim, fake_station, exposure_s=0.1, clock=clock)
    names = [(m.command, m.kwargs.get("name")) for m in messages]
    timing = names.index(("create", data_keys.CT_TIMING))
    read = {m.obj.name: m.obj for m in commands(messages[timing:], "read")}
    assert clock.name in read
    floor_s = read["ct_exposure_floor_s"].get()
    assert floor_s == pytest.approx((5 + 2 + 2) * 0.1 / 10.0)
    phases = ["darks", "sample_out", "flats", "projection_setup", "projections", "finish"]
    wall_s = read["ct_wall_s"].get()
    assert wall_s == pytest.approx(sum(read[f"ct_{phase}_s"].get() for phase in phases))
    assert read["ct_overhead_ratio"].get() == pytest.approx(wall_s / floor_s)
    # Within the run, before it closes.
    assert timing < names.index(("close_run", None))
