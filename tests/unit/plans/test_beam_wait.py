"""A CT waits for the beam (`plans.beam_wait`): under bluesky's RunEngineSimulator, what the
plan installs, where it checkpoints (where a suspension goes back to), what it records, and
how a fly pass under way is stopped for a suspension."""

from __future__ import annotations

from bluesky.suspenders import SuspendFloor
from ophyd.status import DeviceStatus

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


def test_a_fly_ct_installs_a_floor_on_the_ring_current_around_its_pass_and_says_so(
    sim, fake_station
):
    beam = fake_station.beam
    for command in ("prepare", "kickoff", "complete"):
        sim.add_handler(command, finished_status)
    messages = sim.simulate_plan(_ct(fake_station, position_compare=fake_station.position_compare))
    (install,) = commands(messages, "install_suspender")
    suspender = install.args[0]
    assert isinstance(suspender, SuspendFloor)
    assert suspender._sig is beam.current_mA
    assert suspender._suspend_thresh == beam.min_current_mA.get() > 0
    assert suspender._sleep == beam.resume_delay_s.get()
    assert len(commands(messages, "remove_suspender")) == 1
    names = [m.command for m in messages]
    # Around the pass only: installed after the flats, removed once it is collected.
    assert names.index("kickoff") > names.index("install_suspender")
    assert names.index("remove_suspender") > names.index("collect")
    (described,) = start_of(messages)["suspenders"]
    assert described["suspender"] == "SuspendWhenBeamLost"
    assert described["signal"] == data_keys.BEAM_CURRENT
    assert described["min_current_mA"] == beam.min_current_mA.get()


def test_a_step_ct_waits_before_each_flat_and_projection_while_the_beam_is_down(sim, fake_station):
    beam = fake_station.beam
    beam.resume_delay_s.put(0.0)
    currents = iter([0.0, 0.0, 400.0])  # the first flat finds the beam down, twice

    def read_current(message):
        value = next(currents, 400.0)
        return {beam.current_mA.name: {"value": value, "timestamp": 0.0}}

    sim.add_handler("read", read_current, beam.current_mA.name)
    messages = sim.simulate_plan(_ct(fake_station))
    assert commands(messages, "install_suspender") == []  # no rewinding a step frame
    waits = [m for m in commands(messages, "create") if m.kwargs["name"] == data_keys.BEAM_WAITS]
    assert len(waits) == 2  # as the wait starts, and as it ends
    names = [(m.command, m.kwargs.get("name")) for m in messages]
    first_flat = names.index(("create", data_keys.FLAT))
    assert names.index(("create", data_keys.BEAM_WAITS)) < first_flat
    assert len(commands(messages, "sleep")) == 2
    darks = names.index(("create", data_keys.DARK))
    assert darks < names.index(("create", data_keys.BEAM_WAITS))  # darks need no beam


def test_every_frame_is_checkpointed_and_read_with_the_ring_current(sim, fake_station):
    messages = sim.simulate_plan(_ct(fake_station))
    frames = 0
    for index, message in enumerate(messages):
        if message.command == "create" and message.kwargs["name"] != data_keys.CT_TIMING:
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


def test_a_zero_threshold_waits_for_nothing_and_installs_nothing(sim, fake_station):
    fake_station.beam.min_current_mA.put(0.0)
    for command in ("prepare", "kickoff", "complete"):
        sim.add_handler(command, finished_status)
    messages = sim.simulate_plan(_ct(fake_station, position_compare=fake_station.position_compare))
    assert commands(messages, "install_suspender") == []
    assert commands(messages, "sleep") == []
    assert start_of(messages)["suspenders"] == []
    assert beam_suspender(fake_station.beam) is None


def test_a_series_waits_for_the_beam_only_during_its_ct(sim, fake_station):
    station = fake_station
    for command in ("prepare", "kickoff", "complete"):
        sim.add_handler(command, finished_status)
    messages = sim.simulate_plan(
        pressure_series(
            station.press,
            station.potentiostat,
            station.tomo_stage,
            station.detector,
            beam=station.beam,
            position_compare=station.position_compare,
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
    assert after.index("remove_suspender") > after.index("collect")  # around the fly pass
    kinds = [s["suspender"] for s in start_of(messages)["suspenders"]]
    assert "SuspendWhenBeamLost" in kinds


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
    acquire = station.detector.cam.acquire
    assert [(m.command, getattr(m.obj, "name", None), m.args[:1]) for m in stop] == [
        ("set", acquire.name, (0,)),
        ("wait", None, ()),
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


def test_an_abandoned_pass_finishes_its_complete_status_unchecked(fake_station):
    """The replayed pass waits on the same group as the abandoned one's ``complete``: that
    status must finish, not fail on the stopped pass's frame count."""
    station = fake_station
    flyer = ct_flyer(station.tomo_stage, station.detector, station.position_compare, "primary")
    pending = DeviceStatus(flyer)
    flyer._completion = pending
    flyer.abandon()
    assert pending.done and pending.success
