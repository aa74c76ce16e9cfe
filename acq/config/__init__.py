"""The station config: one TOML file names the PVs, the cell, the limits and the services.

`load_config` reads and validates one (the packaged ``stations/default.toml`` when none is
named); `StationConfig` is the validated model. Shipped configs live in ``stations/``.
"""

from .station_config import (
    DEFAULT_CONFIG_PATH,
    SHIPPED_CONFIGS,
    STATIONS_DIR,
    CellSection,
    ConfigError,
    StationConfig,
    load_config,
    parse_config,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "SHIPPED_CONFIGS",
    "STATIONS_DIR",
    "CellSection",
    "ConfigError",
    "StationConfig",
    "load_config",
    "parse_config",
]
