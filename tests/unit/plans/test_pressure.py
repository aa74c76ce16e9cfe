"""`pressure_step` with bluesky's RunEngineSimulator on the fake station."""

from __future__ import annotations

import math

import pytest
from ophyd.utils.errors import LimitError

from plans import pressure_series, pressure_step
from tests.unit.plans.helpers import commands, start_of


def test_pressure_step_reads_its_criterion_moves_waits_and_records(sim, fake_station):
    press, clock = fake_station.press, fake_station.clock
    messages = sim.simulate_plan(pressure_step(press, 25.0, clock=clock, md={"operator": "me"}))
    assert [m.command for m in messages] == [
        "read",
        "read",
        "checkpoint",
        "open_run",
        "set",
        "wait",
        "trigger",
        "trigger",
        "wait",
        "create",
        "read",
        "read",
        "save",
        "close_run",
    ]
    assert messages[4].obj is press and messages[4].args == (25.0,)
    assert [m.obj for m in commands(messages, "read")[-2:]] == [press, clock]
    start = start_of(messages)
    assert start["plan_name"] == "pressure_step"
    assert start["plan_args"] == {"press": "press", "pressure_MPa": 25.0, "clock": "clock"}
    assert start["pressure_MPa"] == 25.0 and start["operator"] == "me"
    assert start["technique"]["tolerance_MPa"] == press.tolerance_MPa.get()
    assert start["technique"]["dwell_s"] == press.dwell_s.get()
    assert start["detectors"] == ["press", "clock"] and start["motors"] == ["press"]
    assert start["num_points"] == 1
    assert start["hints"] == {"dimensions": [[["time"], "primary"]]}


@pytest.mark.parametrize("bad", [500.0, math.nan, -1.0, "ten"])
def test_bad_pressures_are_refused_before_any_message(sim, fake_station, bad):
    station = fake_station
    with pytest.raises((LimitError, ValueError)):
        sim.simulate_plan(pressure_step(station.press, bad))
    with pytest.raises((LimitError, ValueError)):
        sim.simulate_plan(
            pressure_series(
                station.press,
                station.potentiostat,
                station.tomo_stage,
                station.detector,
                pressures_MPa=[6.0, bad],
            )
        )


def test_nothing_moves_before_the_pressure_is_checked(sim, fake_station):
    messages = sim.simulate_plan(pressure_step(fake_station.press, 12.0))
    first_move = next(i for i, m in enumerate(messages) if m.command == "set")
    assert {m.command for m in messages[:first_move]} <= {"read", "checkpoint", "open_run"}
    assert commands(messages, "set")[0].args == (12.0,)


@pytest.mark.parametrize(
    "md",
    [{"pressure_MPa": 100}, {"station": "fake"}, {"cell": {"diameter_mm": 10}}, {"sample": "x"}],
    ids=["pressure", "station", "cell", "sample"],
)
def test_md_may_not_override_what_the_station_and_plan_record(sim, fake_station, md):
    """``md={"pressure_MPa": 100}`` on a move to 25 MPa would falsify what the analysis reads."""
    plan = pressure_step(fake_station.press, 25.0, md=md)
    with pytest.raises(ValueError, match=f"md may not set {next(iter(md))}"):
        sim.simulate_plan(plan)
