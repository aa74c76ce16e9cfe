"""Start-document metadata the plans add to what the RunEngine already carries.

The RunEngine's ``md`` (set from the station config by `acq.runtime.engine`) holds the station,
sample, cell geometry and software versions; each plan adds its name, its arguments and the
technique parameters with units in their names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import Msg
from ophyd import Device

from conventions.pv_states import Switch
from conventions.start_keys import owned_key_refusal
from devices.press import PressureCell

#: Timeout of the press reads `label_runs` makes, s.
READ_TIMEOUT_S = 2.0


def plan_metadata(
    plan_name: str,
    plan_args: Mapping[str, Any],
    md: Mapping | None,
    *,
    detectors: Sequence[Device],
    motors: Sequence[Device] = (),
    num_points: int | None = None,
    dimensions: Sequence[tuple[list[str], str]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The ``md`` for a plan's start document, with bluesky's standard keys.

    Parameters
    ----------
    plan_name
        Name of the public plan.
    plan_args
        Its arguments; devices are recorded by name.
    md
        The caller's metadata, which wins over the plan's own keys except those in
        `conventions.start_keys.OWNED_KEYS` (what the station and the plan record as fact).
    detectors, motors
        What the plan reads and what it moves (recorded by name, as ``bluesky.plans.scan``
        records them).
    num_points
        Events of the primary stream, when known in advance.
    dimensions
        ``hints["dimensions"]``: the fields that index each stream, so BestEffortCallback and
        other clients plot against them (``time`` of ``primary`` when empty).
    extra
        Technique parameters and other keys (``technique``, ``pressure_MPa``…).

    Raises
    ------
    ValueError
        If ``md`` sets one of `conventions.start_keys.OWNED_KEYS` (before anything moves:
        plans build their metadata before they open their run).
    """
    refused = owned_key_refusal(plan_name, md)
    if refused:
        raise ValueError(refused)
    standard: dict[str, Any] = {
        "detectors": [device.name for device in detectors],
        "motors": [device.name for device in motors],
        "hints": {"dimensions": [list(pair) for pair in dimensions] or [[["time"], "primary"]]},
    }
    if num_points is not None:
        standard["num_points"] = num_points
    return {
        "plan_name": plan_name,
        "plan_args": {key: _plain(value) for key, value in plan_args.items()},
        **standard,
        **extra,
        **(md or {}),
    }


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


def label_runs(press: PressureCell | None = None) -> Callable:
    """A RunEngine preprocessor giving every start document what tells runs apart at a
    glance in any client (Tiled's web UI, a databroker search): ``pressure_MPa`` and
    ``start_datetime``.

    Plans that set a pressure record it themselves (the nominal setpoint); for any other run
    ``pressure_MPa`` is the press's feedback setpoint while the feedback holds one, else the
    load cell's reading when the run opens, MPa. Without a press, or with one that does not
    answer, it is left out.
    ``start_datetime`` is when the run opened, ISO 8601 in local time with its UTC offset
    (the start document's ``time`` is the same instant as a POSIX timestamp).
    """

    def add_labels(msg: Msg) -> Msg:
        if msg.command != "open_run":
            return msg
        now = datetime.now().astimezone()
        labels: dict[str, Any] = {"start_datetime": now.isoformat(timespec="seconds")}
        if press is not None and "pressure_MPa" not in msg.kwargs:
            try:
                held = press.feedback.get(timeout=READ_TIMEOUT_S) == Switch.ON
                signal = press.setpoint if held else press.readback
                labels["pressure_MPa"] = round(float(signal.get(timeout=READ_TIMEOUT_S)), 3)
            except Exception:  # a press that does not answer must not stop the run
                pass
        return msg._replace(kwargs={**labels, **msg.kwargs})

    return functools.partial(bpp.msg_mutator, msg_proc=add_labels)
