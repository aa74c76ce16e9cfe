"""The parameters the queue refuses at ``item_add`` for their sign
(`conventions.plan_parameters`) are those the plans refuse when they start: read from the
plans' own checks (`plans.checks`), so a check added to a plan and not to the lists fails
here."""

from __future__ import annotations

import ast
from pathlib import Path

import plans
from acq.beamline import station_plans
from conventions.plan_parameters import (
    NON_NEGATIVE_PARAMETERS,
    POSITIVE_PARAMETERS,
    sign_refusal,
)

#: What each of `plans.checks` refuses, as the lists name it.
CHECKS = {
    "positive": "positive",
    "positive_at_most": "positive",
    "non_negative": "non_negative",
}
#: Plan parameters the plans pass on under another name (checked as ``exposure_s``).
PASSED_ON = {"ct_exposure_s": "exposure_s"}


def _checked_names() -> dict[str, set[str]]:
    """Names the plans' modules pass to each kind of check, as string literals."""
    found: dict[str, set[str]] = {"positive": set(), "non_negative": set()}
    for module in Path(plans.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "checks"
                and node.func.attr in CHECKS
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found[CHECKS[node.func.attr]].add(node.args[0].value)
    return found


def _plan_parameters() -> set[str]:
    return {name for plan in station_plans().values() for name in plan.signature.parameters}


def test_every_plan_parameter_a_plan_checks_for_its_sign_is_listed():
    parameters = _plan_parameters()
    checked = _checked_names()
    listed = POSITIVE_PARAMETERS | NON_NEGATIVE_PARAMETERS
    assert (checked["positive"] | checked["non_negative"]) & parameters <= listed
    # ``record_interval_s`` is checked positive once 0 has been replaced by the plan's choice.
    assert (checked["positive"] & parameters) - {"record_interval_s"} <= POSITIVE_PARAMETERS
    assert checked["non_negative"] & parameters <= NON_NEGATIVE_PARAMETERS


def test_every_listed_parameter_is_a_plan_parameter_the_plans_check():
    parameters = _plan_parameters()
    checked = _checked_names()
    for name in POSITIVE_PARAMETERS | NON_NEGATIVE_PARAMETERS:
        assert name in parameters, f"{name} is no plan's parameter"
        kind = "positive" if name in POSITIVE_PARAMETERS else "non_negative"
        assert PASSED_ON.get(name, name) in checked[kind] | checked["positive"], name


def test_the_refusal_names_each_argument_out_of_its_range():
    assert sign_refusal({"c_rate": 0.1, "rest_s": 0, "record_interval_s": None}) == ""
    assert sign_refusal({"c_rate": 0, "rest_s": -1.5, "pressure_MPa": 0, "flag": False}) == (
        "c_rate = 0: must be positive (greater than 0); rest_s = -1.5: cannot be negative"
    )
