"""Property-based: whatever number an operator types into a station config or a plan, it is
either taken (and then finite and within the stated bounds) or refused with a ValueError that
names the key — never taken silently out of range, never another exception, never a hang."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acq.config import ConfigError, load_config, parse_config
from plans import eis_sweep, galvanostatic_cycles, pressure_step
from tests.unit.plans.helpers import run_until

#: Messages that move or energise something (or open a run): no refusal may come after one.
MOVING = {"set", "trigger", "kickoff", "open_run"}


class Reached(Exception):
    """Thrown into a plan at its first message in `MOVING`."""


#: Anything a float field could be handed: every float (NaN, ±inf, subnormal, huge), ints,
#: and values that are not numbers at all.
ANY_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
)

#: Numeric keys of a station config and the bounds the config states for them.
CONFIG_NUMBERS = {
    ("station", "time_scale"): (0.0, 1e7),
    ("press", "rating_MPa"): (0.0, 1e4),
    ("press", "load_cell_range_N"): (0.0, 1e7),
    ("press", "tolerance_MPa"): (0.0, math.inf),
    ("press", "dwell_s"): (0.0, 86400.0),
    ("press", "settle_timeout_s"): (0.0, 86400.0),
    ("potentiostat", "compliance_current_A"): (0.0, 100.0),
    ("potentiostat", "compliance_voltage_V"): (0.0, 1000.0),
    ("cell", "diameter_mm"): (0.0, math.inf),
}


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(CONFIG_NUMBERS)), value=ANY_VALUE)
def test_a_config_number_is_taken_in_bounds_or_refused_by_name(key, value):
    raw = load_config().model_dump(mode="json")
    section, name = key
    raw[section][name] = value
    try:
        config = parse_config(raw)
    except ConfigError as error:
        assert f"{section}.{name}" in str(error) or section in str(error)
        return
    taken = getattr(getattr(config, section), name)
    low, high = CONFIG_NUMBERS[key]
    assert math.isfinite(taken) and low <= taken <= high


# The fake station and simulator are the test's; every example leaves them as it found them
# (a refused plan sends nothing, a taken one ends with the cell off).
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.sampled_from(["pressure_step", "eis_sweep", "galvanostatic_cycles"]),
    value=ANY_VALUE,
)
def test_a_plan_number_is_refused_before_any_message_that_moves(sim, fake_station, plan, value):
    """The plan's checks run on its first messages (reads only): a refused value raises
    ValueError before any set, trigger or open_run; a taken one is in the plan's bounds."""
    press, pstat = fake_station.press, fake_station.potentiostat
    plans = {
        "pressure_step": lambda: pressure_step(press, value),
        "eis_sweep": lambda: eis_sweep(pstat, amplitude_V=value),
        "galvanostatic_cycles": lambda: galvanostatic_cycles(
            pstat, cycles=1, c_rate=0.1, poll_interval_s=value
        ),
    }
    try:
        run_until(sim, plans[plan](), lambda msg: msg.command in MOVING, Reached())
    except ValueError as error:
        assert str(error), "a refusal says why"
        return
    except Reached:
        pass  # taken: the plan went on to move or energise something
    # then it was a finite number within what the plan states
    low, high = {
        "pressure_step": (0.0, fake_station.config.max_pressure_MPa),
        "eis_sweep": (1e-4, 0.5),
        "galvanostatic_cycles": (0.01, 60.0),
    }[plan]
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    assert math.isfinite(value) and low <= value <= high


def _simulation_numbers() -> list[tuple[str, str]]:
    from simulated_devices.physics.parameters import CellParameters

    defaults = CellParameters()
    return sorted(
        (group.name, key.name)
        for group in dataclasses.fields(defaults)
        if group.name != "imaging"  # sizes of the phantom, not of the cell
        for key in dataclasses.fields(getattr(defaults, group.name))
        if key.type in ("float", "int")
    )


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(_simulation_numbers()), value=ANY_VALUE)
def test_a_simulation_parameter_builds_a_cell_or_is_refused_by_its_dotted_key(key, value):
    """Every accepted ``[simulation.parameters]`` value builds a cell whose microstructure,
    circuit and half cycles are finite at every pressure; every refused one is named."""
    from acq.services import simulation_parameters
    from simulated_devices.physics.electrochemistry import (
        ElectrochemicalCell,
        HalfCycle,
        HalfCycleLimits,
    )
    from simulated_devices.physics.impedance import circuit_at
    from simulated_devices.physics.microstructure import microstructure_at

    group, name = key
    raw = load_config().model_dump(mode="json")
    raw["simulation"]["parameters"] = {group: {name: value}}
    try:
        parameters = simulation_parameters(parse_config(raw))
    except ConfigError as error:
        # Named by its dotted key, or (an ordering within a group) with its group.
        message = str(error)
        assert f"simulation.parameters.{group}.{name}" in message or (
            f"simulation.parameters.{group}: " in message and name.split("_")[0] in message
        )
        return
    cell = ElectrochemicalCell(parameters, np.random.default_rng(0))
    for pressure_MPa in (1.0, 12.0, 50.0, 150.0):
        micro = microstructure_at(pressure_MPa, parameters)
        circuit = circuit_at(micro, parameters)
        assert 0.0 <= micro.porosity_electrolyte < 1.0 and micro.electrolyte_thickness_um > 0
        resistances = (circuit.R0_ohm, circuit.R_b_ohm, circuit.R_gb_ohm, circuit.R_ct_ohm)
        assert all(math.isfinite(r) and r >= 0 for r in resistances), circuit
        cell.set_conditions(
            pressure_MPa, circuit.R0_ohm + circuit.R_b_ohm + circuit.R_gb_ohm, circuit.R_ct_ohm
        )
        current_A = 0.1 * max(cell.nominal_capacity_mAh, 1e-3) * 1e-3
        half = HalfCycle(cell, HalfCycleLimits(current_A, 3.68, 2.5, 3600.0, math.inf, 60.0), 4096)
        half.advance(3600.0)
        assert half.done and np.all(np.isfinite(half.voltage_V))
