"""Each plan's check of its arguments (`conventions.plan_arguments`) is what the plan refuses
first, word for word: the queue's RE Manager refuses an item with the same line at
``item_add`` that the plan would give when it ran."""

from __future__ import annotations

import inspect
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acq.beamline import station_plans
from acq.cli import main
from conventions.plan_arguments import PLAN_CHECKS, argument_refusal
from tests.stations import small_station_config, write_toml

#: Arguments a plan needs besides its defaults to run at all.
REQUIRED = {"galvanostatic_cycles": {"c_rate": 0.01}, "pressure_step": {"pressure_MPa": 10.0}}

#: (plan, arguments, a part of the refusal): one case per kind of rule.
BAD = [
    ("pressure_step", {"pressure_MPa": -1.0}, "cannot be negative"),
    ("eis_sweep", {"start_frequency_Hz": 1.0, "stop_frequency_Hz": 1.0}, "must differ"),
    ("eis_sweep", {"points_per_decade": 100}, "exceed"),
    ("ct_scan", {"exposure_s": 0.0}, "exposure_s must be positive"),
    ("ct_scan", {"num_projections": 1}, "num_projections must be an integer ≥ 2"),
    ("ct_scan", {"start_deg": 5.0, "stop_deg": 5.0}, "must differ"),
    ("galvanostatic_cycles", {"current_density_mA_cm2": 0.1}, "exactly one"),
    ("galvanostatic_cycles", {"c_rate": None}, "exactly one"),
    ("galvanostatic_cycles", {"cycles": 0}, "cycles must be an integer ≥ 1"),
    ("galvanostatic_cycles", {"lower_cutoff_V": 4.0}, "must be below"),
    ("galvanostatic_cycles", {"max_duration_s": 1e6, "record_interval_s": 1.0}, "overflows"),
    ("galvanostatic_cycles", {"record_interval_s": -1.0}, "cannot be negative"),
    ("galvanostatic_cycles", {"poll_interval_s": 1e9}, "poll_interval_s"),
    ("critical_current_density", {"start_mA_cm2": 2.0, "max_mA_cm2": 1.0}, "below start"),
    ("critical_current_density", {"mode": "fast"}, "mode must be"),
    ("critical_current_density", {"collapse_fraction": 1.5}, "collapse_fraction"),
    ("lithium_inventory_cycling", {"reference_cycles": 5, "max_cycles": 5}, "fewer than"),
    ("lithium_inventory_cycling", {"retention": 2.0}, "retention"),
    ("pressure_series", {"pressures_MPa": []}, "at least one"),
    ("pressure_series", {"cycles": -1}, "cycles must be an integer ≥ 0"),
    ("pressure_series", {"ct_num_projections": 1}, "num_projections must be an integer ≥ 2"),
    ("pressure_series", {"cycles": 1, "upper_cutoff_V": 2.0}, "must be below"),
]


def _arguments(name: str, given_arguments: dict) -> dict:
    """Every argument of plan ``name`` (its defaults, then what is given)."""
    parameters = inspect.signature(station_plans()[name].function).parameters
    defaults = {
        key: parameter.default
        for key, parameter in parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {**defaults, **REQUIRED.get(name, {}), **given_arguments}


def _plan_refusal(sim, station, name: str, given_arguments: dict) -> str:
    """The ValueError the plan raises under the simulator, ``""`` if it raises none first."""
    plan = station_plans()[name]
    bound = plan.bind(station, {**REQUIRED.get(name, {}), **given_arguments})
    try:
        sim.simulate_plan(plan.function(**bound))
    except ValueError as error:
        return str(error)
    return ""


def test_every_plan_has_a_check_taking_only_its_own_parameters():
    plans = station_plans()
    assert set(PLAN_CHECKS) == set(plans)
    for name, check in PLAN_CHECKS.items():
        own = set(plans[name].signature.parameters)
        assert set(inspect.signature(check).parameters) <= own, name


@pytest.mark.parametrize("name, given_arguments, part", BAD)
def test_the_queue_refuses_what_the_plan_refuses_in_the_same_words(
    sim, fake_station, name, given_arguments, part
):
    refusal = argument_refusal(name, _arguments(name, given_arguments))
    assert part in refusal
    assert _plan_refusal(sim, fake_station, name, given_arguments) == refusal


@pytest.mark.parametrize("name, given_arguments, part", BAD)
def test_acq_run_refuses_it_in_that_line_before_it_looks_for_the_station(
    tmp_path, capsys, name, given_arguments, part
):
    """No station serves this config: refusing the argument must not wait for devices."""
    config = write_toml(small_station_config(tmp_path / "data"), tmp_path / "station.toml")
    arguments = {**REQUIRED.get(name, {}), **given_arguments}
    params = [f"{key}={json.dumps(value)}" for key, value in arguments.items()]
    argv = ["run", name, "--config", str(config), "--analysis-wait-s", "0"]
    assert main([*argv, *(arg for p in params for arg in ("--param", p))]) == 2
    error = capsys.readouterr().err
    assert error == f"acq: {argument_refusal(name, _arguments(name, given_arguments))}\n"
    assert part in error


@pytest.mark.parametrize("name", sorted(PLAN_CHECKS))
def test_each_plans_defaults_pass_its_check(name):
    assert argument_refusal(name, _arguments(name, {})) == ""


def test_a_plan_without_a_check_and_an_unknown_plan_pass():
    assert argument_refusal("no_such_plan", {"x": 1}) == ""


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10, max_value=10),
    st.none(),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    upper=numbers,
    lower=numbers,
    rest=numbers,
    duration=numbers,
    interval=numbers,
    cycles=st.integers(min_value=-2, max_value=3),
)
def test_a_cycling_item_the_check_refuses_the_plan_refuses_with_that_line(
    sim, fake_station, upper, lower, rest, duration, interval, cycles
):
    given_arguments = {
        "upper_cutoff_V": upper,
        "lower_cutoff_V": lower,
        "rest_s": rest,
        "max_duration_s": duration,
        "record_interval_s": interval,
        "cycles": cycles,
    }
    refusal = argument_refusal(
        "galvanostatic_cycles", _arguments("galvanostatic_cycles", given_arguments)
    )
    if refusal:
        assert _plan_refusal(sim, fake_station, "galvanostatic_cycles", given_arguments) == refusal
    else:  # what passes is within what the rules allow
        assert math.isfinite(upper) and math.isfinite(lower) and lower < upper
