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

import functools
from collections.abc import Callable

from bluesky_queueserver import parameter_annotation_decorator

from conventions.impedance import FREQUENCY_RANGE_HZ
from conventions.plan_arguments import CCD_MODES, MAX_EXPOSURE_S, POLL_INTERVAL_LIMITS_S

from ..beamline import DeviceParameter, Station, StationPlan, station_plans
from ..config import StationConfig


def parameter_limits(config: StationConfig) -> dict[str, tuple[float, float]]:
    """``(min, max)`` of the plan parameters, by parameter name (the same name means the same
    quantity in every plan).

    Pressures in MPa (0 to the config's `max_pressure_MPa`), cut-off voltages in V (± the
    potentiostat's compliance voltage), currents as C-rate in 1/h and as current density in
    mA/cm² (up to the compliance current for the config's cell), and the waits and exposures
    within the plans' own bounds (`conventions.plan_arguments.POLL_INTERVAL_LIMITS_S`,
    `~conventions.plan_arguments.MAX_EXPOSURE_S`), frequencies within the potentiostat's
    (`conventions.impedance.FREQUENCY_RANGE_HZ`) and a retention within [0, 1]. NaN, which
    passes any range check of the queue server, is refused by the station's RE Manager
    (`acq.queue_server.re_manager`), as is any argument the plan's own check refuses
    (`conventions.plan_arguments`: an exposure of 0 s, which the inclusive bounds pass).
    """
    pressure = (0.0, config.max_pressure_MPa)
    compliance_V = config.potentiostat.compliance_voltage_V
    compliance_mA = 1e3 * config.potentiostat.compliance_current_A
    density = (0.0, compliance_mA / config.cell.area_cm2)
    exposure = (0.0, MAX_EXPOSURE_S)
    return {
        "pressure_MPa": pressure,
        "pressures_MPa": pressure,
        "upper_cutoff_V": (-compliance_V, compliance_V),
        "lower_cutoff_V": (-compliance_V, compliance_V),
        "cutoff_V": (0.0, compliance_V),
        "c_rate": (0.0, compliance_mA / config.cell.nominal_capacity_mAh),
        "current_density_mA_cm2": density,
        "start_mA_cm2": density,
        "step_mA_cm2": density,
        "max_mA_cm2": density,
        "poll_interval_s": POLL_INTERVAL_LIMITS_S,
        "exposure_s": exposure,
        "ct_exposure_s": exposure,
        "start_frequency_Hz": FREQUENCY_RANGE_HZ,
        "stop_frequency_Hz": FREQUENCY_RANGE_HZ,
        "eis_start_frequency_Hz": FREQUENCY_RANGE_HZ,
        "eis_stop_frequency_Hz": FREQUENCY_RANGE_HZ,
        "retention": (0.0, 1.0),
    }


def _device_annotation(parameter: DeviceParameter, station: Station) -> dict:
    """The queue-server annotation of a device parameter: the names of the station's devices
    of its class (a list of them for a sequence, or None for an optional one)."""
    type_name = parameter.device_class.__name__
    template = (
        "typing.List[{}]"
        if parameter.many
        else "{}"
        if parameter.required
        else "typing.Optional[{}]"
    )
    return {
        "annotation": template.format(type_name),
        "devices": {type_name: parameter.choices(station)},
    }


def plan_annotation(plan: StationPlan, config: StationConfig, station: Station) -> dict:
    """The `parameter_annotation_decorator` argument for ``plan``."""
    limits = parameter_limits(config)
    parameters = {}
    for name in plan.signature.parameters:
        device = plan.devices.get(name)
        annotation = _device_annotation(device, station) if device is not None else {}
        if name in limits:
            annotation["min"], annotation["max"] = limits[name]
        if name == "mode":
            annotation.update(annotation="Mode", enums={"Mode": list(CCD_MODES)})
        if annotation:
            parameters[name] = annotation
    return {"parameters": parameters}


def queue_plan(plan: StationPlan, config: StationConfig, station: Station) -> Callable:
    """``plan`` with a resolved signature and the annotation of `plan_annotation` (same
    name, docstring, arguments and result); an optional device parameter not given takes the
    station's device of its class, as ``acq run`` fills it (the press a technique records and
    is held by, the position compare that makes a CT a fly scan)."""

    @functools.wraps(plan.function)
    def resolved(*args, **kwargs):
        given = plan.signature.bind_partial(*args, **kwargs).arguments
        return (yield from plan.function(**plan.bind(station, given, fill_optional=True)))

    resolved.__signature__ = plan.signature  # type: ignore[attr-defined]
    return parameter_annotation_decorator(plan_annotation(plan, config, station))(resolved)


def queue_plans(config: StationConfig, station: Station) -> dict[str, Callable]:
    """Every plan of the station (`acq.beamline.station_plans`), by its name, ready for the
    queue server's namespace.

    Parameters
    ----------
    config
        The station config the limits come from.
    station
        The station whose devices a plan's device parameters may name.
    """
    return {name: queue_plan(plan, config, station) for name, plan in station_plans().items()}
