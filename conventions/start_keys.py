"""Start-document keys the station and the plans own.

A caller's ``md`` may not set them: the station's (from its config, via the RunEngine's
``md``: station, sample, cell, simulation, software versions) and the plan's record of what
it did (its name and arguments, the nominal stack pressure), which the analysis reads back.
`plans.metadata.plan_metadata` refuses them in a run's ``md``; the queue's RE Manager refuses
them at ``item_add`` (`acq.queue_server.re_manager`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The keys (see the module).
OWNED_KEYS = frozenset(
    {
        "station",
        "sample",
        "sample_description",
        "cell",
        "simulated",
        "versions",
        "pressure_MPa",
        "plan_name",
        "plan_args",
    }
)


def owned_key_refusal(plan_name: str, md: Mapping[str, Any] | None) -> str:
    """The one line refusing an ``md`` that sets `OWNED_KEYS`, or ``""`` if it sets none."""
    owned = sorted(OWNED_KEYS & set(md or {}))
    if not owned:
        return ""
    return (
        f"{plan_name}: md may not set {', '.join(owned)}: the station config and the plan "
        f"record them"
    )


#: ``plan_name`` of a run imported from an instrument file (``acq import``), and the key of
#: its start document naming the plan (``plan_name``, ``plan_args``) that measures the same
#: data on this station, when there is one (``acq replay --plan`` replays that).
IMPORT_PLAN_NAME = "import"
EQUIVALENT_PLAN = "equivalent_plan"
