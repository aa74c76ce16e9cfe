"""Plan parameters that must be greater than zero, or at least zero, wherever they are
checked.

The plans refuse each of them out of that range when they start (`plans.checks.positive`,
`plans.checks.non_negative`), before anything moves. The queue server's ``min`` is inclusive
and most of them have none, so the queue's RE Manager refuses them at ``item_add`` too
(`acq.queue_server.re_manager`); a test keeps these lists and the plans' checks the same
(``tests/unit/test_plan_parameters.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

#: The parameters (see the module), by the name every plan gives them.
POSITIVE_PARAMETERS = frozenset(
    {
        "c_rate",
        "current_density_mA_cm2",
        "start_mA_cm2",
        "step_mA_cm2",
        "max_mA_cm2",
        "half_cycle_h",
        "capacity_mAh_cm2",
        "cutoff_V",
        "exposure_s",
        "ct_exposure_s",
        "max_duration_s",
    }
)
#: The parameters that may be 0 but not below (``record_interval_s`` 0: the plan chooses).
NON_NEGATIVE_PARAMETERS = frozenset({"record_interval_s", "max_capacity_mAh", "rest_s"})


def sign_refusal(arguments: Mapping[str, Any]) -> str:
    """The one line refusing the arguments out of their range here (``""`` if none): each of
    `POSITIVE_PARAMETERS` that is a number ≤ 0, each of `NON_NEGATIVE_PARAMETERS` < 0 (None,
    an optional parameter left out, is not a number)."""
    problems = []
    for name, value in arguments.items():
        if isinstance(value, bool) or not isinstance(value, Real):
            continue
        if name in POSITIVE_PARAMETERS and value <= 0:
            problems.append(f"{name} = {value!r}: must be positive (greater than 0)")
        elif name in NON_NEGATIVE_PARAMETERS and value < 0:
            problems.append(f"{name} = {value!r}: cannot be negative")
    return "; ".join(problems)
