"""Techniques held at their stack pressure (`plans.pressure_hold`), with bluesky's
RunEngineSimulator on the fake station: the suspenders installed around the run and listed in
its start document, the stack pressure in every event, a load cell that disagrees with itself
refused before anything is energised, and cycling stopped at a short circuit."""

from __future__ import annotations

import logging

from conventions import data_keys
from conventions.pv_states import HalfCycleEnd, Switch
from devices.press import PressureUntrusted
from plans import eis_sweep, galvanostatic_cycles, pressure_series
from plans.cycling import CellShorted
from plans.pressure_hold import SuspendWhenStackPressureLost
from tests.unit.plans.helpers import commands, event_readers, start_of
from tests.unit.plans.test_cycling import instrument

TARGET_MPA = 25.0


def loaded(sim, press, *, pressure_MPa: float = TARGET_MPA, tare_N: float = 0.0) -> None:
    """The press holds ``TARGET_MPA`` with its feedback on; its load cell reads
    ``pressure_MPa`` and the force that goes with it plus ``tare_N``."""
    force_N = pressure_MPa * press.area_mm2.get() + tare_N
    for signal, value in (
        (press.feedback, Switch.ON),
        (press.setpoint, TARGET_MPA),
        (press.readback, pressure_MPa),
        (press.force_N, force_N),
    ):
        signal.sim_put(value)
        sim.add_read_handler_for(signal, value)


def simulate_to_error(sim, plan, error_type: type[Exception]) -> tuple[list, list[Exception]]:
    """The messages ``plan`` yields as ``sim`` runs it, and the ``error_type`` it raised."""
    caught: list[Exception] = []

    def catching():
        try:
            yield from plan
        except error_type as error:
            caught.append(error)

    return sim.simulate_plan(catching()), caught


def test_cycling_with_the_press_is_held_at_its_pressure_and_records_it(sim, fake_station):
    press, pstat = fake_station.press, fake_station.potentiostat
    loaded(sim, press)
    instrument(sim, pstat, polls=2, reason=HalfCycleEnd.UPPER_CUTOFF, voltage_V=[3.0, 3.7])
    messages = sim.simulate_plan(galvanostatic_cycles(pstat, cycles=1, c_rate=0.01, press=press))
    names = [m.command for m in messages]
    (installed,) = commands(messages, "install_suspender")
    suspender = installed.args[0]
    assert isinstance(suspender, SuspendWhenStackPressureLost)
    assert suspender._sig is press.readback
    hold = press.hold_band_MPa.get()
    assert (suspender._bot, suspender._top) == (TARGET_MPA - hold, TARGET_MPA + hold)
    # Installed once the run is open, before the cell is energised; removed before it closes.
    assert names.index("open_run") < names.index("install_suspender") < names.index("trigger")
    assert len(commands(messages, "remove_suspender")) == 1
    assert names.index("remove_suspender") < names.index("close_run")
    start = start_of(messages)
    assert [s["suspender"] for s in start["suspenders"]] == ["SuspendWhenStackPressureLost"]
    assert start["suspenders"][0]["band_MPa"] == [TARGET_MPA - hold, TARGET_MPA + hold]
    assert start["plan_args"]["press"] == press.name
    for stream in (data_keys.TRACE, data_keys.HALF_CYCLE):
        readers = event_readers(messages, stream)
        assert readers and all(press.name in read for read in readers), stream


def test_without_the_feedback_nothing_is_held_but_the_pressure_is_recorded_and_it_says_so(
    sim, fake_station, caplog
):
    press, pstat = fake_station.press, fake_station.potentiostat
    loaded(sim, press, pressure_MPa=3.0)
    sim.add_read_handler_for(press.feedback, Switch.OFF)
    with caplog.at_level(logging.WARNING, logger="plans"):
        messages = sim.simulate_plan(eis_sweep(pstat, press=press))
    assert not commands(messages, "install_suspender")
    assert start_of(messages)["suspenders"] == []
    assert all(press.name in read for read in event_readers(messages, data_keys.PRIMARY))
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning == (
        f"{press.name}: feedback off: the pressure (now 3.00 MPa) is not held and no "
        "suspender watches it; a pressure_step first holds it"
    )


def test_a_tare_taken_under_load_is_refused_before_anything_is_energised(sim, fake_station):
    press, pstat = fake_station.press, fake_station.potentiostat
    # Tared at 25 MPa and pressed back to a reading of 25 MPa: 50 MPa on the stack.
    loaded(sim, press, tare_N=TARGET_MPA * press.area_mm2.get())
    series = pressure_series(
        press, pstat, fake_station.tomo_stage, fake_station.detector, pressures_MPa=[6.0]
    )
    for plan in (galvanostatic_cycles(pstat, cycles=1, c_rate=0.01, press=press), series):
        messages, caught = simulate_to_error(sim, plan, PressureUntrusted)
        assert caught and "50.00 MPa" in str(caught[0])
        assert not {"set", "trigger", "open_run"} & {m.command for m in messages}


def test_the_suspender_trips_out_of_the_band_or_on_a_load_cell_disagreement(fake_station):
    press = fake_station.press
    area, tolerance = press.area_mm2.get(), press.tolerance_MPa.get()
    suspender = SuspendWhenStackPressureLost(press, TARGET_MPA, 1.0, tolerance)
    press.force_N.sim_put(TARGET_MPA * area)
    assert not suspender._should_suspend(TARGET_MPA) and suspender._should_resume(TARGET_MPA)
    press.force_N.sim_put((TARGET_MPA - 1.5) * area)
    assert suspender._should_suspend(TARGET_MPA - 1.5)  # out of the band
    press.force_N.sim_put(2 * TARGET_MPA * area)
    assert suspender._should_suspend(TARGET_MPA)  # in the band, twice the force
    assert not suspender._should_resume(TARGET_MPA)
    press.force_N.sim_put((TARGET_MPA + 0.5 * tolerance) * area)
    assert suspender._should_resume(TARGET_MPA)
    # Back in the band is not enough to resume: back within the settling tolerance is.
    inside = TARGET_MPA - (1.0 + tolerance) / 2
    press.force_N.sim_put(inside * area)
    assert not suspender._should_suspend(inside) and not suspender._should_resume(inside)


def test_installed_it_compares_each_pressure_with_the_force_of_the_same_reading(
    fake_station, RE, monkeypatch
):
    # While the feedback presses the stack back, a pressure update that waited in the queue
    # is older than a force read afresh: compared with it, a trusted load cell looked tared
    # under load and the suspender tripped again (seen in CI).
    press = fake_station.press
    area = press.area_mm2.get()
    suspender = SuspendWhenStackPressureLost(press, TARGET_MPA, 1.0, press.tolerance_MPa.get())
    press.readback.sim_put(TARGET_MPA)
    press.force_N.sim_put(TARGET_MPA * area)  # the reading the monitors delivered
    suspender.install(RE)
    try:
        newer_N = (TARGET_MPA + 3.0) * area  # the stack 3 MPa further on, read afresh
        monkeypatch.setattr(press.force_N, "get", lambda *args, **kwargs: newer_N)
        suspender(TARGET_MPA, timestamp=0.0)
        assert not suspender.tripped
        press.force_N.sim_put(2 * TARGET_MPA * area)  # a tare under load: it still trips
        suspender(TARGET_MPA, timestamp=0.0)
        assert suspender.tripped
    finally:
        suspender.remove()


def test_a_pressure_series_holds_each_spectrum_and_cycling_at_its_pressure(sim, fake_station):
    press, pstat = fake_station.press, fake_station.potentiostat
    loaded(sim, press, pressure_MPa=0.0)
    instrument(sim, pstat, polls=1, reason=HalfCycleEnd.LOWER_CUTOFF, voltage_V=[3.0, 2.5])
    messages = sim.simulate_plan(
        pressure_series(
            press,
            pstat,
            fake_station.tomo_stage,
            fake_station.detector,
            pressures_MPa=[6.0, 12.0],
            ct_num_projections=0,
        )
    )
    bands = [(m.args[0]._bot, m.args[0]._top) for m in commands(messages, "install_suspender")]
    hold = press.hold_band_MPa.get()
    assert bands == [(p - hold, p + hold) for p in (6.0, 6.0, 12.0, 12.0)]  # EIS, cycling
    names = [m.command for m in messages]
    first_move = next(i for i, m in enumerate(messages) if m.obj is press and m.command == "set")
    assert first_move < names.index("install_suspender")  # held once it has settled


def test_a_short_circuit_stops_cycling_at_once_with_the_cell_off(sim, fake_station):
    pstat = fake_station.potentiostat
    instrument(sim, pstat, polls=1, reason=HalfCycleEnd.SHORT_CIRCUIT, voltage_V=[3.0, 0.01])
    messages, caught = simulate_to_error(
        sim, galvanostatic_cycles(pstat, cycles=3, c_rate=0.01, rest_s=60.0), CellShorted
    )
    assert caught and "cycle 0 (charge)" in str(caught[0])
    assert len(commands(messages, "trigger", pstat.galvanostatic.name)) == 1  # no rest either
    assert not commands(messages, "trigger", pstat.rest.name)
    assert commands(messages, "set")[-1].obj is pstat.stop_command
    assert commands(messages, "close_run")[0].kwargs["exit_status"] == "fail"
