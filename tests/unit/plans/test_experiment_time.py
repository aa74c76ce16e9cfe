"""Experiment time in every event (`plans.experiment_time`): every plan, given the station's
clock as ``acq run`` and the queue server fill it, reads the clock in each event of every
stream it makes, the suspension and beam-wait events too (bluesky's RunEngineSimulator on
the fake station)."""

from __future__ import annotations

import pytest

from acq.beamline import station_plans
from conventions import data_keys
from conventions.pv_states import HalfCycleEnd
from plans.beam_wait import beam_gate
from plans.pressure_hold import pressure_suspender
from tests.unit.conftest import finished_status
from tests.unit.plans.helpers import event_readers, start_of, streams
from tests.unit.plans.test_cycling import instrument
from tests.unit.plans.test_pressure_hold import TARGET_MPA, loaded

#: Small arguments for each plan (beside the devices the station fills).
ARGUMENTS = {
    "pressure_step": {"pressure_MPa": TARGET_MPA},
    "eis_sweep": {"points_per_decade": 2},
    "galvanostatic_cycles": {"c_rate": 0.01},
    "critical_current_density": {"max_mA_cm2": 0.2},
    "lithium_inventory_cycling": {"max_cycles": 2, "reference_cycles": 1},
    "ct_scan": {"num_projections": 3, "num_darks": 1, "num_flats": 1},
    "pressure_series": {
        "pressures_MPa": [TARGET_MPA],
        "ct_num_projections": 3,
        "ct_num_darks": 1,
        "ct_num_flats": 1,
    },
}


def assert_clocked(messages, clock) -> None:
    """Every event of every stream the messages make reads ``clock``."""
    made = streams(messages)
    assert made
    for stream in made:
        readers = event_readers(messages, stream)
        assert readers and all(clock.name in read for read in readers), stream


@pytest.mark.parametrize("name", sorted(station_plans()))
def test_every_event_of_every_plan_reads_the_station_clock(sim, fake_station, request, name):
    press, pstat = fake_station.press, fake_station.potentiostat
    loaded(sim, press)
    instrument(sim, pstat, polls=2, reason=HalfCycleEnd.UPPER_CUTOFF, voltage_V=[3.0, 3.7])
    if name == "critical_current_density":
        request.getfixturevalue("symmetric")
    for command in ("prepare", "kickoff", "complete"):  # a fly pass (the station has a pc)
        sim.add_handler(command, finished_status)
    plan = station_plans()[name]
    arguments = plan.bind(fake_station, ARGUMENTS[name], fill_optional=True)
    assert arguments["clock"] is fake_station.clock
    messages = sim.simulate_plan(plan.function(**arguments))
    assert_clocked(messages, fake_station.clock)
    assert start_of(messages)["plan_args"]["clock"] == data_keys.CLOCK


def test_a_suspension_is_marked_with_the_experiment_time(sim, fake_station):
    press, clock = fake_station.press, fake_station.clock
    suspender = pressure_suspender(press, TARGET_MPA, clock)
    for marking in (suspender._pre_plan, suspender._post_plan):
        messages = sim.simulate_plan(marking())
        assert streams(messages) == {data_keys.SUSPENSIONS}
        assert_clocked(messages, clock)


def test_a_wait_for_the_beam_is_marked_with_the_experiment_time(sim, fake_station):
    beam, clock = fake_station.beam, fake_station.clock
    beam.resume_delay_s.put(0.0)
    currents = iter([0.0, 400.0])  # down at the gate, back at the next read

    def read_current(message):
        return {beam.current_mA.name: {"value": next(currents, 400.0), "timestamp": 0.0}}

    sim.add_handler("read", read_current, beam.current_mA.name)
    messages = sim.simulate_plan(beam_gate(beam, clock))
    assert streams(messages) == {data_keys.BEAM_WAITS}
    assert len(event_readers(messages, data_keys.BEAM_WAITS)) == 2
    assert_clocked(messages, clock)
