"""Cycling held at its stack pressure over real Channel Access: the pressure lost mid half
cycle (the feedback switched off and the actuator backed off, as a stray client could)
suspends the run with the cell off at once; the pressure restored, the half cycle runs again
and the run ends "success", the suspended interval marked in ``suspensions``. A tare taken
under load keeps the run suspended however the feedback makes the pressure read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from bluesky.utils import RunEngineInterrupted

from acq.runtime.engine import make_run_engine
from conventions import data_keys
from conventions.pv_states import Switch, TechniqueState
from plans import galvanostatic_cycles, pressure_step

#: Pressure the cell is held at, MPa.
HELD_MPA = 10.0
#: A half cycle of ≈200 h of experiment time: ≈7 s on the test station's clock.
C_RATE = 0.005
#: Wall seconds each condition gets to come about.
WAIT_S = 30.0


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> float:
    """Poll ``condition`` until it holds; the monotonic time it did."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic()


def collected_run(engine, plan, fault: Callable[[], None]) -> tuple[list, list[BaseException]]:
    """Run ``plan`` while ``fault`` runs in a thread; the documents and the fault's errors."""
    documents: list = []
    errors: list[BaseException] = []
    engine.RE.subscribe(lambda name, doc: documents.append((name, doc)))

    def inject() -> None:
        try:
            fault()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=inject, daemon=True)
    thread.start()
    try:
        engine.RE(plan)
    except RunEngineInterrupted:  # the fault paused it: abort, as an operator would
        engine.RE.abort("paused while suspended")
    finally:
        thread.join(WAIT_S)
    return documents, errors


def events(documents: list, stream: str) -> list[dict]:
    """The events of ``stream``, in order."""
    descriptors = {
        doc["uid"] for name, doc in documents if name == "descriptor" and doc["name"] == stream
    }
    return [doc for name, doc in documents if name == "event" and doc["descriptor"] in descriptors]


@pytest.fixture
def held_press(station, station_config):
    """A RunEngine, and the session's press holding `HELD_MPA`; unloaded, re-tared and
    pressed to `HELD_MPA` again after."""
    engine = make_run_engine(station_config, press=station.press)
    engine.RE(pressure_step(station.press, HELD_MPA))
    yield engine
    press = station.press
    press.feedback.put(Switch.ON, wait=True)
    press.setpoint.put(0.0, wait=True)  # unloads, whatever a tare makes the reading
    wait_for(lambda: press.force_N.get() < 0.5, "the stack unloaded")
    press.tare_command.put(1, wait=True)
    wait_for(lambda: abs(press.readback.get()) < 0.1, "the load cell re-tared")
    press.move(HELD_MPA, timeout=60)


def test_pressure_lost_mid_half_cycle_suspends_with_the_cell_off_then_resumes(station, held_press):
    press, pstat = station.press, station.potentiostat
    seen: dict[str, float] = {}

    def lose_and_restore_pressure() -> None:
        wait_for(lambda: pstat.state.get(use_monitor=False) == TechniqueState.RUNNING, "charge")
        time.sleep(1.0)
        press.feedback.put(Switch.OFF, wait=True)
        press.actuator.set(press.actuator.position - 0.1).wait(WAIT_S)
        lost = wait_for(lambda: press.readback.get() < HELD_MPA - 2, "the pressure to fall")
        off = wait_for(lambda: pstat.cell_on.get(use_monitor=False) == Switch.OFF, "cell off")
        seen.update(cell_off_after_s=off - lost, lost_MPa=press.readback.get())
        time.sleep(1.0)
        assert pstat.cell_on.get(use_monitor=False) == Switch.OFF  # held off while suspended
        press.feedback.put(Switch.ON, wait=True)  # the loop presses the stack back

    documents, errors = collected_run(
        held_press,
        galvanostatic_cycles(pstat, cycles=1, c_rate=C_RATE, press=press),
        lose_and_restore_pressure,
    )
    assert not errors, errors
    assert seen["cell_off_after_s"] < 1.0
    (start,) = [doc for name, doc in documents if name == "start"]
    (stop,) = [doc for name, doc in documents if name == "stop"]
    assert stop["exit_status"] == "success", stop
    assert start["suspenders"][0]["band_MPa"] == pytest.approx([HELD_MPA - 1, HELD_MPA + 1])
    marks = events(documents, data_keys.SUSPENSIONS)
    notes = [event["data"][data_keys.SUSPENSION_NOTE] for event in marks]
    # Suspended and resumed, in pairs: the pressure lost, then held again.
    assert notes[::2] and all(note.startswith("suspended: ") for note in notes[::2]), notes
    assert notes[1::2] == ["resumed"] * len(notes[::2]), notes
    assert "outside" in notes[0]
    assert marks[0]["data"][data_keys.PRESS_PRESSURE] < HELD_MPA - 1
    assert abs(marks[-1]["data"][data_keys.PRESS_PRESSURE] - HELD_MPA) < 0.5
    trace = events(documents, data_keys.TRACE)
    assert all(data_keys.PRESS_PRESSURE in event["data"] for event in trace)
    # Both half cycles ended on their own: the interrupted charge ran again, whole.
    half_cycles = events(documents, data_keys.HALF_CYCLE)
    steps = [event["data"][data_keys.CYCLE_STEP] for event in half_cycles]
    assert steps == ["charge", "discharge"]


def test_a_tare_under_load_keeps_the_run_suspended_until_aborted(station, held_press):
    press, pstat = station.press, station.potentiostat

    def tare_under_load() -> None:
        wait_for(lambda: pstat.state.get(use_monitor=False) == TechniqueState.RUNNING, "charge")
        press.tare_command.put(1, wait=True)  # the feedback now presses to read 10 MPa again
        wait_for(lambda: pstat.cell_on.get(use_monitor=False) == Switch.OFF, "cell off")
        wait_for(lambda: abs(press.readback.get() - HELD_MPA) < 0.5, "the reading back at 10")
        time.sleep(2.0)
        assert pstat.cell_on.get(use_monitor=False) == Switch.OFF  # still suspended
        held_press.RE.request_pause(defer=False)

    documents, errors = collected_run(
        held_press,
        galvanostatic_cycles(pstat, cycles=1, c_rate=C_RATE, press=press),
        tare_under_load,
    )
    assert not errors, errors
    (stop,) = [doc for name, doc in documents if name == "stop"]
    assert stop["exit_status"] == "abort"
    notes = [
        e["data"][data_keys.SUSPENSION_NOTE] for e in events(documents, data_keys.SUSPENSIONS)
    ]
    assert any("re-tare" in note for note in notes), notes
