"""`plans.metadata.label_runs`: every start document says its stack pressure and start time
(ophyd's fake devices: no IOC)."""

from __future__ import annotations

from datetime import datetime

import bluesky.plans as bp
import pytest
from bluesky import RunEngine
from ophyd.sim import det, make_fake_device

from devices.press import PressureCell
from plans.metadata import label_runs


@pytest.fixture
def press():
    fake = make_fake_device(PressureCell)("FAKE:press:", name="press")
    fake.setpoint.sim_put(25.0)
    fake.readback.sim_put(24.93)
    return fake


def _start_of(RE: RunEngine, plan) -> dict:
    starts: list[dict] = []
    RE.subscribe(lambda name, doc: starts.append(doc), "start")
    RE(plan)
    (start,) = starts
    return start


@pytest.mark.parametrize(("feedback", "pressure"), [("On", 25.0), ("Off", 24.93)])
def test_a_run_records_the_held_setpoint_or_else_the_load_cells_pressure(
    press, feedback, pressure
):
    press.feedback.sim_put(feedback)
    RE = RunEngine({})
    RE.preprocessors.append(label_runs(press))
    start = _start_of(RE, bp.count([det]))
    assert start["pressure_MPa"] == pressure
    assert abs(datetime.fromisoformat(start["start_datetime"]).timestamp() - start["time"]) < 2


def test_a_plans_own_pressure_wins(press):
    press.feedback.sim_put("On")
    RE = RunEngine({})
    RE.preprocessors.append(label_runs(press))
    assert _start_of(RE, bp.count([det], md={"pressure_MPa": 6.0}))["pressure_MPa"] == 6.0


def test_without_a_press_a_run_has_its_start_time_only():
    RE = RunEngine({})
    RE.preprocessors.append(label_runs())
    start = _start_of(RE, bp.count([det]))
    assert "pressure_MPa" not in start and "start_datetime" in start
