"""The RE Manager as ``acq queue`` runs it: ``python -m acq.queue_server.re_manager`` with the
arguments of ``start-re-manager``, riding out a Redis restart, and its plan validation
refusing numbers that are not finite.

Redis restarts. The manager talks to Redis through one ``redis.asyncio`` client made by
`PlanQueueOperations.start` with ``from_url``, whose connections retry nothing. After Redis
restarts, the next command on a pooled connection fails ("Connection closed by server"): a
``queue_start`` is refused, and if it is the write that moves a finished plan into the
history (`RunEngineManager._process_plan_report`, a task nobody awaits), the exception ends
that task after the worker's report was consumed, so the manager stays in
``executing_queue`` for good. The client's retry is set once it exists
(`REDIS_RETRY`, with redis-py's own `Redis.set_retry`): a command that meets a closed
connection reconnects and is sent again, for up to about a minute of Redis being away. The
data themselves survive because the station's Redis persists them
(`acq.queue_server.redis_server`).

Numbers. The queue server checks a number against an annotation's ``min``/``max`` with
``<`` and ``>``, which NaN passes whatever the limits; a parameter without limits takes ±inf
too; and its JSON decoder reads ``NaN`` and ``Infinity`` although JSON has neither. It has no
hook for a validation of one's own, so `validate_plan` (the function the manager calls for
``item_add``/``item_update`` and the worker again before running an item) is wrapped: after
the queue server's own checks pass, an item with a non-finite number anywhere in its
arguments is refused with a message naming the parameter (`refused_argument`). No plan
of the station takes one. So is any item the plan's own check of its arguments refuses
(`conventions.plan_arguments`: a value out of its sign, a count below its plan's minimum,
cut-offs the wrong way round, both or neither of a C-rate and a current density), and an
``md`` that sets a start-document key the station owns (`conventions.start_keys`), all of
which the plan would refuse only when it runs.

Both replacements are installed when this module is imported, so they are in place in the
manager and worker processes whether multiprocessing forks them or spawns them (a spawned
child imports the main module again).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bluesky_queueserver import bind_plan_arguments
from bluesky_queueserver.manager import manager, profile_ops
from bluesky_queueserver.manager.plan_queue_ops import PlanQueueOperations
from bluesky_queueserver.manager.start_manager import start_manager
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from conventions.plan_arguments import argument_refusal
from conventions.start_keys import owned_key_refusal

from .finite import non_finite_values, refusal

# This module runs in the manager process, which forks the worker: nothing here may import
# ophyd (Channel Access would start before the fork) or the station.

#: How the manager's Redis commands ride out Redis being away (restarting, replaying its
#: append-only file): 15 tries, waits doubling from 0.5 s up to 5 s, about a minute in all.
REDIS_RETRY = Retry(ExponentialWithJitterBackoff(base=0.5, cap=5.0), retries=15)

_queue_server_validate_plan = profile_ops.validate_plan
_queue_operations_start = PlanQueueOperations.start


async def start_queue_operations(self: PlanQueueOperations) -> None:
    """`PlanQueueOperations.start`, then `REDIS_RETRY` on its Redis client."""
    await _queue_operations_start(self)
    self._r_pool.set_retry(copy.deepcopy(REDIS_RETRY))


def refused_argument(plan: Mapping[str, Any], description: Mapping[str, Any]) -> str:
    """Which arguments of a queue item are NaN or ±inf, or refused by the plan's check of its
    arguments, or which start-document keys its ``md`` sets that the station owns; ``""`` if
    none.

    Parameters
    ----------
    plan
        The item (``name``, ``args``, ``kwargs``), its arguments already bound to the plan's
        parameters by the queue server's validation.
    description
        The plan's entry in the queue server's allowed plans.
    """
    bound = bind_plan_arguments(
        plan_args=plan.get("args", []),
        plan_kwargs=plan.get("kwargs", {}),
        plan_parameters=description,
    )
    bound.apply_defaults()  # the plan's check sees what the plan will run with
    found = [
        problem
        for name, value in bound.arguments.items()
        for problem in non_finite_values(value, name)
    ]
    if found:
        return refusal(found)
    refused = argument_refusal(plan["name"], bound.arguments)
    if refused:
        return refused
    md = bound.arguments.get("md")
    return owned_key_refusal(plan["name"], md) if isinstance(md, Mapping) else ""


def validate_plan(plan: dict, *, allowed_plans: dict | None, allowed_devices: dict | None):
    """`bluesky_queueserver.validate_plan`, then `refused_argument`.

    Returns
    -------
    tuple[bool, str]
        Whether the item is valid, and the reason if not (as the queue server words it).
    """
    success, message = _queue_server_validate_plan(
        plan, allowed_plans=allowed_plans, allowed_devices=allowed_devices
    )
    if success and allowed_plans is not None:
        problem = refused_argument(plan, allowed_plans[plan["name"]])
        if problem:
            return False, f"Plan validation failed: {problem}\nPlan: {plan!r}"
    return success, message


PlanQueueOperations.start = start_queue_operations
manager.validate_plan = validate_plan  # what `RunEngineManager._prepare_item` calls
profile_ops.validate_plan = validate_plan  # what the worker's `prepare_plan` calls

if __name__ == "__main__":
    start_manager()
