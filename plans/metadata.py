"""Start-document metadata the plans add to what the RunEngine already carries.

The RunEngine's ``md`` (set from the station config by `acq.engine`) holds the station, sample,
cell geometry and software versions; each plan adds its name, its arguments and the technique
parameters with units in their names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from ophyd import Device


def plan_metadata(plan_name: str, plan_args: Mapping[str, Any], md: Mapping | None,
                  **extra: Any) -> dict[str, Any]:
    """The ``md`` for a plan's start document.

    Parameters
    ----------
    plan_name
        Name of the public plan.
    plan_args
        Its arguments; devices are recorded by name.
    md
        The caller's metadata, which wins over the plan's own keys.
    extra
        Technique parameters and other keys (``technique``, ``pressure_MPa``…).
    """
    return {"plan_name": plan_name,
            "plan_args": {key: _plain(value) for key, value in plan_args.items()},
            **extra, **(md or {})}


def checkpointed_run(md: Mapping[str, Any]) -> Callable:
    """`bluesky.preprocessors.run_decorator` preceded by a checkpoint.

    A pause resumes by replaying every message since the last checkpoint: without one where
    the run opens, a series paused while the press settles for its next pressure would replay
    the previous run's last technique into the new run, and a deferred pause would wait for
    the next technique.
    """
    def decorator(plan: Callable) -> Callable:
        run = bpp.run_decorator(md=md)(plan)

        @functools.wraps(plan)
        def with_checkpoint(*args, **kwargs):
            yield from bps.checkpoint()
            return (yield from run(*args, **kwargs))
        return with_checkpoint
    return decorator


def _plain(value: Any) -> Any:
    if isinstance(value, Device):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value
