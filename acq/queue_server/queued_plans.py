"""The station's plans as the queue server runs them: types, device names and limits that
``item_add`` checks before a plan is queued.

The queue server validates a submitted plan against a description it builds from the plan's
signature and its `parameter_annotation_decorator` annotation (pydantic for types, ``min`` /
``max`` for every number in a value, enums for device names). Two things stop the plans in
`plans` from being described as they are:

- their modules use ``from __future__ import annotations``, so the signature holds strings
  (``'float'``, ``'PressureCell'``) that the queue server cannot rebuild: every submission
  would be refused with "`Model` is not fully defined";
- a device parameter has no type the queue server understands, so an unknown device name
  would be accepted and the plan would fail when it runs.

`queue_plans` wraps each plan in a generator with the resolved signature and an annotation
that lists, for each device parameter, the station's devices of that class, and gives the
pressure, cut-off voltage and current parameters the station config's limits.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from bluesky_queueserver import parameter_annotation_decorator
from ophyd import Device

import plans

from ..config import StationConfig

#: Values of ``critical_current_density``'s ``mode`` (the only plan parameter of that name).
CCD_MODES = ("time", "capacity")


def max_pressure_MPa(config: StationConfig) -> float:
    """The highest stack pressure the press accepts: the lower of the cell rating and the
    load-cell range over the disc area, MPa (the IOC's setpoint control limit)."""
    area_mm2 = 100.0 * config.cell.area_cm2
    return min(config.press.rating_MPa, config.press.load_cell_range_N / area_mm2)


def parameter_limits(config: StationConfig) -> dict[str, tuple[float, float]]:
    """``(min, max)`` of the plan parameters the station config limits, by parameter name.

    Pressures in MPa (0 to `max_pressure_MPa`), cut-off voltages in V (± the potentiostat's
    compliance voltage), currents as C-rate in 1/h and as current density in mA/cm² (up to
    the compliance current for the config's cell).
    """
    pressure = (0.0, max_pressure_MPa(config))
    compliance_V = config.potentiostat.compliance_voltage_V
    compliance_mA = 1e3 * config.potentiostat.compliance_current_A
    density = (0.0, compliance_mA / config.cell.area_cm2)
    return {
        "pressure_MPa": pressure, "pressures_MPa": pressure,
        "upper_cutoff_V": (-compliance_V, compliance_V),
        "lower_cutoff_V": (-compliance_V, compliance_V),
        "cutoff_V": (0.0, compliance_V),
        "c_rate": (0.0, compliance_mA / config.cell.nominal_capacity_mAh),
        "current_density_mA_cm2": density, "start_mA_cm2": density,
        "step_mA_cm2": density, "max_mA_cm2": density,
    }


def _device_annotation(hint: Any, devices: Mapping[str, Device]) -> dict | None:
    """The queue-server annotation of a parameter typed with a device class (alone, optional
    or in a sequence): the names of the station's devices of that class; None otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        (device_class,) = [arg for arg in args if arg is not type(None)]
        template = "typing.Optional[{}]"
    elif origin is collections.abc.Sequence:
        device_class, template = args[0], "typing.List[{}]"
    else:
        device_class, template = hint, "{}"
    if not (inspect.isclass(device_class) and issubclass(device_class, Device)):
        return None
    type_name = device_class.__name__
    names = [name for name, device in devices.items() if isinstance(device, device_class)]
    return {"annotation": template.format(type_name), "devices": {type_name: names}}


def plan_annotation(signature: inspect.Signature, config: StationConfig,
                    devices: Mapping[str, Device]) -> dict:
    """The `parameter_annotation_decorator` argument for a plan with resolved ``signature``."""
    limits = parameter_limits(config)
    parameters = {}
    for name, parameter in signature.parameters.items():
        annotation = _device_annotation(parameter.annotation, devices) or {}
        if name in limits:
            annotation["min"], annotation["max"] = limits[name]
        if name == "mode":
            annotation.update(annotation="Mode", enums={"Mode": list(CCD_MODES)})
        if annotation:
            parameters[name] = annotation
    return {"parameters": parameters}


def queue_plan(plan: Callable, config: StationConfig,
               devices: Mapping[str, Device]) -> Callable:
    """``plan`` with a resolved signature and the annotation of `plan_annotation` (same
    name, docstring, arguments and result)."""

    @functools.wraps(plan)
    def resolved(*args, **kwargs):
        return (yield from plan(*args, **kwargs))

    resolved.__signature__ = inspect.signature(plan, eval_str=True)
    annotation = plan_annotation(resolved.__signature__, config, devices)
    return parameter_annotation_decorator(annotation)(resolved)


def queue_plans(config: StationConfig, devices: Mapping[str, Device]) -> dict[str, Callable]:
    """Every plan of `plans` (by its name) ready for the queue server's namespace.

    Parameters
    ----------
    config
        The station config the limits come from.
    devices
        The station's devices by the names users pass (`acq.station.Station.devices`).
    """
    return {name: queue_plan(getattr(plans, name), config, devices) for name in plans.__all__}
