"""Plans checked message by message with bluesky's RunEngineSimulator (nothing moves).

The devices are the session's real, connected devices (so limits come from the IOCs), but
the simulator answers every message itself.
"""

from __future__ import annotations

import math

import pytest
from bluesky.simulators import RunEngineSimulator
from bluesky.utils import FailedStatus
from ophyd.status import Status
from ophyd.utils.errors import LimitError

from plans import (critical_current_density, ct_scan, eis_sweep, galvanostatic_cycles,
                   pressure_series, pressure_step)


def finished_status(_msg=None) -> Status:
    status = Status()
    status.set_finished()
    return status


@pytest.fixture
def sim() -> RunEngineSimulator:
    simulator = RunEngineSimulator()
    for command in ("trigger", "set"):
        simulator.add_handler(command, finished_status)
    return simulator


def commands(messages, command, obj_name=None):
    return [m for m in messages if m.command == command
            and (obj_name is None or (m.obj is not None and m.obj.name == obj_name))]


def run_until(plan, stop_at, exception):
    """Drive ``plan``, answering statuses, and throw ``exception`` at the first message
    ``stop_at`` matches; return every message, including those the plan yields after."""
    messages, send = [], None
    try:
        while True:
            message = plan.send(send)
            messages.append(message)
            send = finished_status() if message.command in ("trigger", "set") else None
            if stop_at(message):
                message = plan.throw(exception)
                messages.append(message)
                send = finished_status() if message.command in ("trigger", "set") else None
                break
        while True:
            messages.append(plan.send(send))
            send = finished_status() if messages[-1].command in ("trigger", "set") else None
    except (StopIteration, type(exception)):
        pass
    return messages


def test_pressure_step_sets_waits_reads_and_records_its_arguments(sim, station):
    messages = sim.simulate_plan(pressure_step(station.press, 25.0, md={"operator": "me"}))
    names = [m.command for m in messages]
    assert names == ["checkpoint", "open_run", "set", "wait", "trigger", "wait", "create",
                     "read", "save", "close_run"]
    assert messages[2].obj is station.press and messages[2].args == (25.0,)
    start = messages[1].kwargs
    assert start["plan_name"] == "pressure_step"
    assert start["plan_args"] == {"press": "press", "pressure_MPa": 25.0}
    assert start["pressure_MPa"] == 25.0 and start["operator"] == "me"
    assert start["technique"]["tolerance_MPa"] == station.press.tolerance_MPa.get()


@pytest.mark.parametrize("bad", [500.0, math.nan, -1.0, "ten"])
def test_bad_pressures_are_refused_before_any_message(sim, station, bad):
    with pytest.raises((LimitError, ValueError)):
        sim.simulate_plan(pressure_step(station.press, bad))
    with pytest.raises((LimitError, ValueError)):
        sim.simulate_plan(pressure_series(station.press, station.potentiostat,
                                          station.tomo_stage, station.detector,
                                          pressures_MPa=[6.0, bad]))


def test_eis_sweep_configures_then_reads_one_spectrum_and_ends_with_the_cell_off(sim, station):
    pstat = station.potentiostat
    messages = sim.simulate_plan(eis_sweep(pstat, start_frequency_Hz=1e5,
                                           stop_frequency_Hz=1.0, points_per_decade=5,
                                           detectors=[station.press]))
    sets = {m.obj.name: m.args[0] for m in commands(messages, "set")}
    assert sets["pstat_eis_initial_frequency_Hz"] == 1e5
    assert sets["pstat_eis_points_per_decade"] == 5
    assert [m.obj.name for m in commands(messages, "trigger")][0] == "pstat_eis"
    assert len(commands(messages, "save")) == 1
    assert messages[-1].command == "wait" and commands(messages, "set")[-1].obj.name == \
        "pstat_stop_command"
    technique = commands(messages, "open_run")[0].kwargs["technique"]
    assert technique == {"name": "PEIS", "start_frequency_Hz": 1e5, "stop_frequency_Hz": 1.0,
                         "points_per_decade": 5, "amplitude_V": 0.01}


@pytest.mark.parametrize("kwargs, message", [
    ({"start_frequency_Hz": 1e8}, "start_frequency_Hz"),
    ({"points_per_decade": 0}, "points_per_decade"),
    ({"points_per_decade": 100}, "exceed"),
    ({"amplitude_V": -0.01}, "amplitude_V"),
])
def test_bad_eis_settings_are_refused_with_their_name(sim, station, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sim.simulate_plan(eis_sweep(station.potentiostat, **kwargs))


def test_galvanostatic_cycles_stream_the_trace_and_record_each_half_cycle(sim, station):
    pstat = station.potentiostat
    polls = {"n": 0}

    def trigger(msg):
        status = Status()
        if msg.obj.name == "pstat_galvanostatic":
            polls["status"] = status
        else:
            status.set_finished()
        return status

    def sleep(msg):  # the half cycle ends after three live trace events
        polls["n"] += 1
        if polls["n"] % 3 == 0:
            polls["status"].set_finished()

    sim.add_handler("trigger", trigger)
    sim.add_handler("sleep", sleep)
    sim.add_read_handler_for(pstat.galvanostatic.num_points, 3)
    sim.add_read_handler_for(pstat.galvanostatic.capacity_mAh, 0.05)
    sim.add_read_handler_for(pstat.galvanostatic.termination_reason, "upper_cutoff")
    sim.add_read_handler_for(pstat.galvanostatic.voltage_V, [3.0, 3.5, 3.7])
    messages = sim.simulate_plan(galvanostatic_cycles(pstat, cycles=2, c_rate=0.01))
    creates = [m.kwargs["name"] for m in commands(messages, "create")]
    assert creates == (["trace"] * 3 + ["half_cycle"]) * 4
    currents = [m.args[0] for m in commands(messages, "set", "pstat_galvanostatic_current_A")]
    expected = 0.01 * pstat.nominal_capacity_mAh.get() * 1e-3
    assert currents == pytest.approx([expected, -expected] * 2)
    start = commands(messages, "open_run")[0].kwargs
    assert start["technique"]["current_A"] == pytest.approx(expected)
    assert start["technique"]["max_duration_s"] == pytest.approx(1.5 * 100 * 3600)
    assert commands(messages, "set")[-1].obj.name == "pstat_stop_command"


def test_cycling_beyond_compliance_is_refused_before_anything_is_energised(sim, station):
    with pytest.raises(LimitError):
        sim.simulate_plan(galvanostatic_cycles(station.potentiostat, c_rate=1e6))
    with pytest.raises(ValueError, match="exactly one"):
        sim.simulate_plan(galvanostatic_cycles(station.potentiostat, c_rate=0.1,
                                               current_density_mA_cm2=1.0))
    with pytest.raises(ValueError, match="record_interval_s"):
        sim.simulate_plan(galvanostatic_cycles(station.potentiostat, c_rate=0.01,
                                               record_interval_s=1.0))


def test_a_failing_half_cycle_still_switches_the_cell_off(station):
    plan = galvanostatic_cycles(station.potentiostat, cycles=1, c_rate=0.01)
    messages = run_until(plan, lambda m: m.command == "wait" and "half-cycle" in str(
        m.kwargs.get("group")), FailedStatus("IOC fault"))
    assert commands(messages, "close_run")[0].kwargs["exit_status"] == "fail"
    assert commands(messages, "set")[-1].obj.name == "pstat_stop_command"


def test_ct_scan_takes_darks_flats_then_projections_with_frames_by_reference(sim, station):
    stage, det = station.tomo_stage, station.detector
    messages = sim.simulate_plan(ct_scan(stage, det, num_projections=5, num_darks=2,
                                         num_flats=3, exposure_s=0.1))
    creates = [m.kwargs["name"] for m in commands(messages, "create")]
    assert creates == ["dark"] * 2 + ["flat"] * 3 + ["primary"] * 5
    angles = [m.args[0] for m in commands(messages, "set", "tomo_rotation")]
    assert angles == pytest.approx([0.0, 0.0, 45.0, 90.0, 135.0, 180.0])
    shutter = [m.args[0] for m in commands(messages, "set", "tomo_shutter")]
    assert shutter == ["Closed", "Open", "Closed", "Closed"]
    assert len(commands(messages, "stage", "det")) == 3
    start = commands(messages, "open_run")[0].kwargs
    assert start["technique"]["num_projections"] == 5
    assert start["technique"]["exposure_s"] == 0.1


def test_fly_ct_scan_stages_prepares_kicks_off_completes_and_collects(sim, station):
    stage, det, pc = station.tomo_stage, station.detector, station.position_compare
    for command in ("prepare", "kickoff", "complete"):
        sim.add_handler(command, finished_status)
    messages = sim.simulate_plan(ct_scan(stage, det, num_projections=5, num_darks=1,
                                         num_flats=1, position_compare=pc))
    fly = [m.command for m in messages
           if m.command in ("stage", "prepare", "kickoff", "complete", "collect", "unstage")]
    assert fly[-6:] == ["stage", "prepare", "kickoff", "complete", "collect", "unstage"]
    spec = commands(messages, "prepare")[0].args[0]
    assert (spec.start_deg, spec.stop_deg, spec.num_frames) == (0.0, 180.0, 5)
    assert not commands(messages, "set", "tomo_rotation")[1:]  # no step moves
    start = commands(messages, "open_run")[0].kwargs
    assert start["technique"]["acquisition"] == "fly"
    assert start["plan_args"]["position_compare"] == "pc"


def test_a_failed_fly_scan_stops_the_flyer_and_closes_the_shutter(station):
    stage, det, pc = station.tomo_stage, station.detector, station.position_compare
    plan = ct_scan(stage, det, num_projections=5, num_darks=1, num_flats=1,
                   position_compare=pc)
    messages = run_until(plan, lambda m: m.command == "complete", FailedStatus("stalled"))
    assert commands(messages, "stop")[0].obj.name == "ct_flyer"
    assert commands(messages, "close_run")[0].kwargs["exit_status"] == "fail"
    assert [m.args[0] for m in commands(messages, "set", "tomo_shutter")][-1] == "Closed"


def test_fly_ct_scan_refuses_a_run_up_beyond_the_rotation_limits(sim, station):
    """0..180° fits the limits, but not the run-up before 0° when starting at the limit."""
    low = station.tomo_stage.rotation.low_limit
    sim.simulate_plan(ct_scan(station.tomo_stage, station.detector, start_deg=low,
                              stop_deg=low + 180.0, num_projections=3))  # step: accepted
    with pytest.raises(LimitError):
        sim.simulate_plan(ct_scan(station.tomo_stage, station.detector, start_deg=low,
                                  stop_deg=low + 180.0,
                                  position_compare=station.position_compare))


def test_ct_scan_refuses_angles_beyond_the_rotation_limits(sim, station):
    with pytest.raises(LimitError):
        sim.simulate_plan(ct_scan(station.tomo_stage, station.detector, stop_deg=1e6))


def test_pressure_series_is_one_linked_run_per_pressure(sim, station):
    sim.add_read_handler_for(station.potentiostat.galvanostatic.num_points, 0)
    sim.add_read_handler_for(station.potentiostat.galvanostatic.voltage_V, [])
    messages = sim.simulate_plan(pressure_series(
        station.press, station.potentiostat, station.tomo_stage, station.detector,
        pressures_MPa=[6.0, 50.0], ct_num_projections=3, ct_num_darks=1, ct_num_flats=1,
        cycles=1))
    starts = [m.kwargs for m in commands(messages, "open_run")]
    assert [s["pressure_MPa"] for s in starts] == [6.0, 50.0]
    assert len({s["series_uid"] for s in starts}) == 1
    assert [s["series_index"] for s in starts] == [0, 1]
    assert set(starts[0]["technique"]) == {"eis", "ct", "cycling"}
    streams = [m.kwargs["name"] for m in commands(messages, "create")]
    assert streams.count("eis") == 2 and streams.count("projection") == 6
    assert streams.count("half_cycle") == 4
    assert commands(messages, "set")[-1].obj.name == "tomo_shutter"
    assert "pstat_stop_command" in [m.obj.name for m in commands(messages, "set")[-2:]]


def test_ccd_plan_steps_the_current_density_in_both_modes(sim, station):
    pstat = station.potentiostat
    sim.add_read_handler_for(pstat.galvanostatic.num_points, 3)
    sim.add_read_handler_for(pstat.galvanostatic.capacity_mAh, 0.01)
    sim.add_read_handler_for(pstat.galvanostatic.termination_reason, "time_limit")
    sim.add_read_handler_for(pstat.galvanostatic.voltage_V, [0.01, 0.011, 0.012])
    messages = sim.simulate_plan(critical_current_density(pstat, start_mA_cm2=0.2,
                                                          step_mA_cm2=0.2, max_mA_cm2=0.6))
    area = pstat.electrode_area_cm2.get()
    currents = [m.args[0] for m in commands(messages, "set", "pstat_galvanostatic_current_A")]
    assert currents == pytest.approx([j * area * 1e-3 * s for j in (0.2, 0.4, 0.6)
                                      for s in (1, -1)])
    assert sim.return_value["critical_current_density_mA_cm2"] is None
    messages = sim.simulate_plan(critical_current_density(pstat, mode="capacity",
                                                          max_mA_cm2=0.4))
    durations = [m.args[0] for m in commands(messages, "set", "pstat_galvanostatic_max_duration_s")]
    assert durations == pytest.approx([0.5 / 0.2 * 3600] * 2 + [0.5 / 0.4 * 3600] * 2)
