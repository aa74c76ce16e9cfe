"""A CT waits for the beam (`plans.beam_wait`): under bluesky's RunEngineSimulator, what the
plan installs, where it checkpoints (where a suspension goes back to), what it records, and
how a fly pass under way is stopped for a suspension."""

from __future__ import annotations

from bluesky.suspenders import SuspendFloor

from conventions import data_keys
from plans import ct_scan, pressure_series
from plans.beam_wait import beam_suspender
from plans.ct import CTSettings, FlyPass, ct_flyer
from tests.unit.conftest import finished_status
from tests.unit.plans.helpers import commands, start_of


def _ct(fake_station, **kwargs):
    stage, det = fake_station.tomo_stage, fake_station.detector
    return ct_scan(
        stage, det, num_projections=3, num_darks=2, num_flats=2, beam=fake_station.beam, **kwargs
    )


def test_a_ct_installs_a_floor_on_the_ring_current_and_says_so(sim, fake_station):
    beam = fake_station.beam
    messages = sim.simulate_plan(_ct(fake_station))
    (install,) = commands(messages, "install_suspender")
    suspender = install.args[0]
    assert isinstance(suspender, SuspendFloor)
    assert suspender._sig is beam.current_mA
    assert suspender._suspend_thresh == beam.min_current_mA.get() > 0
    assert suspender._sleep == beam.resume_delay_s.get()
    assert len(commands(messages, "remove_suspender")) == 1
    (described,) = start_of(messages)["suspenders"]
    assert described["suspender"] == "SuspendFloor"
    assert described["signal"] == data_keys.BEAM_CURRENT
    assert described["min_current_mA"] == beam.min_current_mA.get()


def test_every_frame_is_checkpointed_and_read_with_the_ring_current(sim, fake_station):
    messages = sim.simulate_plan(_ct(fake_station))
    frames = 0
    for index, message in enumerate(messages):
        if message.command == "create":
            frames += 1
            # Since the last checkpoint: no other frame's event (a suspension takes this one
            # again, and only this one).
            back = next(i for i in range(index, -1, -1) if messages[i].command == "checkpoint")
            assert [m.command for m in messages[back:index]].count("save") == 0
            reads = []
            for later in messages[index:]:
                if later.command == "save":
                    break
                if later.command == "read":
                    reads.append(later.obj.name)
            assert data_keys.BEAM in reads, message
    assert frames == 2 + 2 + 3


def test_a_zero_threshold_installs_nothing(sim, fake_station):
    fake_station.beam.min_current_mA.put(0.0)
    messages = sim.simulate_plan(_ct(fake_station))
    assert commands(messages, "install_suspender") == []
    assert start_of(messages)["suspenders"] == []
    assert beam_suspender(fake_station.beam) is None


def test_a_series_waits_for_the_beam_only_during_its_ct(sim, fake_station):
    station = fake_station
    messages = sim.simulate_plan(
        pressure_series(
            station.press,
            station.potentiostat,
            station.tomo_stage,
            station.detector,
            beam=station.beam,
            pressures_MPa=[10.0],
            ct_num_projections=3,
            ct_num_darks=1,
            ct_num_flats=1,
            cycles=0,
            eis_points_per_decade=1,
        )
    )
    beam_installs = [
        index
        for index, m in enumerate(messages)
        if m.command == "install_suspender" and isinstance(m.args[0], SuspendFloor)
    ]
    assert len(beam_installs) == 1
    after = [m.command for m in messages[beam_installs[0] :]]
    assert after.index("remove_suspender") > after.index("create")  # around the CT's frames
    kinds = [s["suspender"] for s in start_of(messages)["suspenders"]]
    assert "SuspendFloor" in kinds


def test_a_fly_pass_under_way_is_stopped_and_the_next_file_opened_for_a_suspension(
    sim, fake_station
):
    station = fake_station
    flyer = ct_flyer(station.tomo_stage, station.detector, station.position_compare, "primary")
    fly_pass = FlyPass(flyer, CTSettings(num_projections=3))
    assert fly_pass.interrupted() is None  # no pass yet: nothing to stop
    for command in ("prepare", "kickoff", "complete"):
        sim.add_handler(command, finished_status)
    plan = fly_pass.plan()
    message = next(plan)
    while message.command != "kickoff":
        message = plan.send(None)
    stop = list(fly_pass.interrupted())
    capture = station.detector.hdf1.capture
    assert flyer._abandoned  # stopped, its complete status to finish unchecked
    assert [(m.command, getattr(m.obj, "name", None), m.args[:1]) for m in stop] == [
        ("set", capture.name, (0,)),
        ("wait", None, ()),
        ("set", capture.name, (1,)),
        ("wait", None, ()),
    ]
    assert fly_pass.under_way  # the RunEngine replays the pass from its prepare
    rest = []
    try:
        while True:
            rest.append(plan.send(None))
    except StopIteration:
        pass
    assert [m.command for m in rest if m.command in ("collect", "unstage")] == [
        "collect",
        "unstage",
    ]
    assert not fly_pass.under_way and fly_pass.interrupted() is None
