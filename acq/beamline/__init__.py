"""The station's devices and plans, built from one config (the dodal beamline shape).

`station` makes every device with a small typed factory and connects them all, reporting
every failure at once; `registry` is the one description of the station's plans and of the
devices each takes, read by the command line, the queue server and replay alike.
"""

from .registry import (
    BadPlanArguments,
    DeviceParameter,
    StationPlan,
    UnknownDevice,
    station_plans,
)
from .station import Station, StationConnectionError, build_station, close_devices, connect_station

__all__ = [
    "BadPlanArguments",
    "DeviceParameter",
    "Station",
    "StationConnectionError",
    "StationPlan",
    "UnknownDevice",
    "build_station",
    "close_devices",
    "connect_station",
    "station_plans",
]
