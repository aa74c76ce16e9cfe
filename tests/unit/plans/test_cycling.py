"""The galvanostatic plans with bluesky's RunEngineSimulator on the fake station: the live
trace until the instrument reports the end, the half-cycle events, the currents, limits and
the staircase, and the cell off however they end."""

from __future__ import annotations

import pytest
from bluesky.utils import FailedStatus
from ophyd.utils.errors import LimitError

from conventions import data_keys
from conventions.pv_states import HalfCycleEnd, TechniqueState
from plans import critical_current_density, galvanostatic_cycles, lithium_inventory_cycling
from plans.cycling import DEFAULT_DURATION_FACTOR
from tests.unit.plans.helpers import commands, run_until, start_of


def instrument(
    sim,
    pstat,
    *,
    polls: int,
    reason: HalfCycleEnd,
    voltage_V: list[float],
    capacity_mAh: float = 0.05,
) -> None:
    """The potentiostat reports each half cycle running for ``polls`` reads of its state,
    then ended by ``reason`` with the recorded trace."""
    reads = {"n": 0}

    def state(msg):
        reads["n"] += 1
        running = reads["n"] % polls != 0
        return {
            pstat.state.name: {
                "value": TechniqueState.RUNNING if running else TechniqueState.STOPPED,
                "timestamp": 0.0,
            }
        }

    sim.add_handler("read", state, pstat.state.name)
    gal = pstat.galvanostatic
    sim.add_read_handler_for(gal.num_points, len(voltage_V))
    sim.add_read_handler_for(gal.capacity_mAh, capacity_mAh)
    sim.add_read_handler_for(gal.termination_reason, reason)
    sim.add_read_handler_for(gal.voltage_V, voltage_V)


def test_cycles_stream_the_trace_until_the_end_and_record_each_half_cycle(sim, fake_station):
    pstat = fake_station.potentiostat
    instrument(sim, pstat, polls=3, reason=HalfCycleEnd.UPPER_CUTOFF, voltage_V=[3.0, 3.5, 3.7])
    messages = sim.simulate_plan(galvanostatic_cycles(pstat, cycles=2, c_rate=0.01))
    creates = [m.kwargs["name"] for m in commands(messages, "create")]
    assert creates == ([data_keys.TRACE] * 3 + [data_keys.HALF_CYCLE]) * 4
    waits = [m for m in commands(messages, "wait") if m.kwargs.get("timeout")]
    assert all(m.kwargs["error_on_timeout"] is False for m in waits)  # polls, not sleeps
    expected = 0.01 * pstat.nominal_capacity_mAh.get() * 1e-3
    currents = [m.args[0] for m in commands(messages, "set", "pstat_galvanostatic_current_A")]
    assert currents == pytest.approx([expected, -expected] * 2)
    start = start_of(messages)
    assert start["technique"]["current_A"] == pytest.approx(expected)
    assert start["technique"]["max_duration_s"] == pytest.approx(
        DEFAULT_DURATION_FACTOR * 100 * 3600
    )
    assert start["hints"]["dimensions"] == [[[data_keys.LIVE_TIME], data_keys.TRACE]]
    assert commands(messages, "set")[-1].obj.name == "pstat_stop_command"


def test_cycling_beyond_compliance_or_the_buffer_is_refused_before_anything_is_energised(
    sim, fake_station
):
    pstat = fake_station.potentiostat
    with pytest.raises(LimitError):
        sim.simulate_plan(galvanostatic_cycles(pstat, c_rate=1e6))
    with pytest.raises(ValueError, match="exactly one"):
        sim.simulate_plan(galvanostatic_cycles(pstat, c_rate=0.1, current_density_mA_cm2=1.0))
    with pytest.raises(ValueError, match="record_interval_s"):
        sim.simulate_plan(galvanostatic_cycles(pstat, c_rate=0.01, record_interval_s=1.0))
    with pytest.raises(ValueError, match="c_rate"):
        sim.simulate_plan(galvanostatic_cycles(pstat, c_rate=float("inf")))


@pytest.mark.parametrize(
    "plan, arguments, message",
    [
        (
            galvanostatic_cycles,
            {"c_rate": 1e3},
            r"^c_rate = 1000 1/h for the cell's [\d.]+ mAh is [\d.]+ mA, beyond the "
            r"potentiostat's compliance \[-10, 10\] mA$",
        ),
        (
            galvanostatic_cycles,
            {"current_density_mA_cm2": 1e4},
            r"^current_density_mA_cm2 = 10000 mA/cm² at [\d.]+ cm² is [\d.]+ mA, beyond",
        ),
        (
            galvanostatic_cycles,
            {"c_rate": 0.1, "upper_cutoff_V": 20.0},
            r"^upper_cutoff_V is 20 V, beyond the potentiostat's compliance \[-10, 10\] V$",
        ),
        (
            critical_current_density,
            {"max_mA_cm2": 1e4, "step_mA_cm2": 5e3},
            r"^max_mA_cm2 = 10000 mA/cm² \(its step at [\d.]+ mA/cm², at [\d.]+ cm²\) is "
            r"[\d.]+ mA, beyond the potentiostat's compliance",
        ),
        (critical_current_density, {"cutoff_V": 12.0}, r"^cutoff_V is 12 V, beyond"),
    ],
)
def test_a_limit_beyond_compliance_is_refused_in_the_parameter_and_unit_given(
    sim, fake_station, request, plan, arguments, message
):
    # A CCD runs on a symmetric cell.
    symmetric = plan is critical_current_density
    pstat = request.getfixturevalue("symmetric") if symmetric else fake_station.potentiostat
    with pytest.raises(LimitError, match=message):
        sim.simulate_plan(plan(pstat, **arguments))
    assert not pstat.galvanostatic.current_A.get()


def test_a_failing_half_cycle_still_switches_the_cell_off(sim, fake_station):
    plan = galvanostatic_cycles(fake_station.potentiostat, cycles=1, c_rate=0.01)
    messages = run_until(
        sim,
        plan,
        lambda m: m.command == "wait" and "half-cycle" in str(m.kwargs.get("group")),
        FailedStatus("IOC fault"),
    )
    assert commands(messages, "close_run")[0].kwargs["exit_status"] == "fail"
    assert commands(messages, "set")[-1].obj.name == "pstat_stop_command"


def test_the_staircase_steps_the_current_density_in_both_modes(sim, symmetric):
    pstat = symmetric
    instrument(
        sim,
        pstat,
        polls=1,
        reason=HalfCycleEnd.TIME_LIMIT,
        voltage_V=[0.01, 0.011, 0.012],
        capacity_mAh=0.01,
    )
    messages = sim.simulate_plan(
        critical_current_density(pstat, start_mA_cm2=0.2, step_mA_cm2=0.2, max_mA_cm2=0.6)
    )
    area = pstat.electrode_area_cm2.get()
    currents = [m.args[0] for m in commands(messages, "set", "pstat_galvanostatic_current_A")]
    assert currents == pytest.approx(
        [j * area * 1e-3 * s for j in (0.2, 0.4, 0.6) for s in (1, -1)]
    )
    assert sim.return_value["critical_current_density_mA_cm2"] is None
    # The densities as a user writes them, not 0.6000000000000001.
    assert start_of(messages)["technique"]["current_densities_mA_cm2"] == [0.2, 0.4, 0.6]
    messages = sim.simulate_plan(critical_current_density(pstat, mode="capacity", max_mA_cm2=0.4))
    durations = [
        m.args[0] for m in commands(messages, "set", "pstat_galvanostatic_max_duration_s")
    ]
    assert durations == pytest.approx([0.5 / 0.2 * 3600] * 2 + [0.5 / 0.4 * 3600] * 2)


@pytest.mark.parametrize(
    "reason", [HalfCycleEnd.UPPER_CUTOFF, HalfCycleEnd.LOWER_CUTOFF, HalfCycleEnd.COMPLIANCE]
)
def test_a_half_cycle_ended_at_a_cutoff_or_the_compliance_is_a_blocked_failure(
    sim, symmetric, reason
):
    pstat = symmetric
    instrument(sim, pstat, polls=1, reason=reason, voltage_V=[0.05, 5.0])
    messages = sim.simulate_plan(
        critical_current_density(pstat, start_mA_cm2=0.2, step_mA_cm2=0.2, max_mA_cm2=1.0)
    )
    assert sim.return_value["failure"] == "blocked"
    assert sim.return_value["critical_current_density_mA_cm2"] == pytest.approx(0.2)
    assert len(commands(messages, "set", "pstat_galvanostatic_current_A")) == 1


def test_the_staircase_stops_at_the_first_short(sim, symmetric):
    pstat = symmetric
    instrument(sim, pstat, polls=1, reason=HalfCycleEnd.SHORT_CIRCUIT, voltage_V=[0.05, 0.04, 0.0])
    messages = sim.simulate_plan(
        critical_current_density(pstat, start_mA_cm2=0.2, step_mA_cm2=0.2, max_mA_cm2=1.0)
    )
    assert sim.return_value["failure"] == "short_circuit"
    assert sim.return_value["critical_current_density_mA_cm2"] == pytest.approx(0.2)
    assert len(commands(messages, "set", "pstat_galvanostatic_current_A")) == 1


@pytest.mark.parametrize(
    "plan, arguments, message",
    [
        (
            critical_current_density,
            {},
            r"^critical_current_density plates and strips lithium through the electrolyte: it "
            r"needs a symmetric cell, and this station's is full \(cell.cell_type\); for a full "
            r"cell use galvanostatic_cycles or lithium_inventory_cycling$",
        ),
    ],
)
def test_a_plan_that_makes_no_sense_for_a_full_cell_is_refused(
    sim, fake_station, plan, arguments, message
):
    with pytest.raises(ValueError, match=message):
        sim.simulate_plan(plan(fake_station.potentiostat, **arguments))


@pytest.mark.parametrize(
    "plan, arguments, message",
    [
        (
            lithium_inventory_cycling,
            {},
            r"^lithium_inventory_cycling cycles a cathode against a limited lithium anode until "
            r"its capacity fades: it needs a full cell, and this station's is symmetric",
        ),
        (
            galvanostatic_cycles,
            {"c_rate": 0.1},
            r"^c_rate = 0.1 1/h needs a cathode's capacity, and a symmetric cell has none: give "
            r"current_density_mA_cm2 instead$",
        ),
    ],
)
def test_a_plan_that_makes_no_sense_for_a_symmetric_cell_is_refused(
    sim, symmetric, plan, arguments, message
):
    with pytest.raises(ValueError, match=message):
        sim.simulate_plan(plan(symmetric, **arguments))
