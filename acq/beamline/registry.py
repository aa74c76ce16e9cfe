"""The station's plans, and which of the station's devices each takes.

One description of every plan of `plans` that all the ways in read: ``acq run`` fills a
plan's device parameters from the station, the queue server lists the devices a submitted
plan may name, and replay turns the device names a start document recorded back into
devices. A device parameter is found from the plan's own signature: a parameter annotated
with a device class (alone, optional or in a sequence) takes the station's devices of that
class.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ophyd import Device

import plans
from conventions.plan_arguments import argument_refusal

from .station import Station


class UnknownDevice(ValueError):
    """A plan argument names a device the station does not have."""


class BadPlanArguments(ValueError):
    """Plan arguments the plan does not take, or without one it needs."""


@dataclass(frozen=True)
class DeviceParameter:
    """A plan parameter that takes devices of the station.

    Attributes
    ----------
    device_class
        The class of device it takes.
    many
        It takes a sequence of them (``detectors``).
    required
        It has no default.
    """

    device_class: type[Device]
    many: bool
    required: bool

    def choices(self, station: Station) -> list[str]:
        """Names of the station's devices this parameter may take."""
        return [
            name
            for name, device in station.devices().items()
            if isinstance(device, self.device_class)
        ]


@dataclass(frozen=True)
class StationPlan:
    """A plan of `plans` as the station runs it.

    Attributes
    ----------
    name
        The plan's name (as the queue server, ``acq run`` and start documents call it).
    function
        The plan itself.
    signature
        Its signature, annotations resolved to classes.
    devices
        Its device parameters by name.
    """

    name: str
    function: Callable[..., Any]
    signature: inspect.Signature
    devices: Mapping[str, DeviceParameter]

    def refusal(self, arguments: Mapping[str, Any]) -> str:
        """The one line the plan's own check (`conventions.plan_arguments`) refuses
        ``arguments`` with, the plan's defaults filled in, before any device is needed
        (``""`` if it passes, has no check, or an argument it checks is missing: `bind`
        names that)."""
        try:
            bound = self.signature.bind_partial(**arguments)
        except TypeError:
            return ""  # `bind` reports it, naming the plan's parameters
        bound.apply_defaults()
        try:
            return argument_refusal(self.name, bound.arguments)
        except KeyError:
            return ""

    def bind(
        self, station: Station, arguments: Mapping[str, Any], *, fill_optional: bool = False
    ) -> dict[str, Any]:
        """``arguments`` with the station's devices in every device parameter.

        A device parameter given by name (or a list of names) takes those devices; a
        required one not given takes the station's device of its class; with
        ``fill_optional`` so does an optional single-device one (the position compare that
        makes a CT a fly scan).

        Raises
        ------
        UnknownDevice
            If an argument names a device the station does not have, or the station has no
            device (or several) for a parameter it should fill.
        BadPlanArguments
            If an argument is not one of the plan's, or a required one is missing.
        """
        devices = station.devices()
        bound = dict(arguments)
        for name, parameter in self.devices.items():
            if name in bound:
                bound[name] = _resolve(bound[name], devices, name, self.name)
            elif parameter.required or (fill_optional and not parameter.many):
                choices = parameter.choices(station)
                if len(choices) != 1:
                    if not parameter.required:
                        continue
                    raise UnknownDevice(
                        f"{self.name}: the station has {len(choices)} "
                        f"devices for {name} ({', '.join(choices)}); name one"
                    )
                bound[name] = devices[choices[0]]
        try:
            self.signature.bind(**bound)
        except TypeError as error:
            raise BadPlanArguments(
                f"{self.name}: {error} (its parameters: {', '.join(self.signature.parameters)})"
            ) from None
        return bound


def _resolve(value: Any, devices: Mapping[str, Device], parameter: str, plan: str) -> Any:
    if value is None or isinstance(value, Device):
        return value
    if isinstance(value, (list, tuple)):
        return [_resolve(item, devices, parameter, plan) for item in value]
    if value not in devices:
        raise UnknownDevice(
            f"{plan}: {parameter}={value!r} names no device of the station "
            f"(it has {', '.join(sorted(devices))})"
        )
    return devices[value]


def device_parameter(parameter: inspect.Parameter) -> DeviceParameter | None:
    """The `DeviceParameter` of a plan parameter annotated with a device class (alone,
    optional or in a sequence); None for any other parameter."""
    hint = parameter.annotation
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    many = False
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        (hint,) = [arg for arg in args if arg is not type(None)]
    elif origin is collections.abc.Sequence:
        hint, many = args[0], True
    if not (inspect.isclass(hint) and issubclass(hint, Device)):
        return None
    return DeviceParameter(hint, many, parameter.default is inspect.Parameter.empty)


def station_plans() -> dict[str, StationPlan]:
    """Every plan of `plans`, by name."""
    described = {}
    for name in plans.__all__:
        function = getattr(plans, name)
        signature = inspect.signature(function, eval_str=True)
        devices = {
            key: found
            for key, parameter in signature.parameters.items()
            if (found := device_parameter(parameter)) is not None
        }
        described[name] = StationPlan(name, function, signature, devices)
    return described
