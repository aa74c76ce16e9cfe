"""The station the tests use: the default config, small."""

from __future__ import annotations

import secrets
from pathlib import Path

from acq.config import StationConfig, load_config, parse_config

#: A small but complete station: tiny CT volume, fast clock, short dwell.
TEST_IMAGING = {"diameter_voxels": 64, "electrode_slices": 16, "electrolyte_slices": 8}


def small_station_config(data_dir: Path, **overrides: dict) -> StationConfig:
    """The default station config with a small CT volume, data under ``data_dir`` and a PV
    prefix of its own."""
    raw = load_config().model_dump(mode="json")
    raw["station"]["data_dir"] = str(data_dir)
    raw["station"]["prefix"] = f"T{secrets.token_hex(3)}:"
    raw["press"]["dwell_s"] = 0.2
    raw["tiled"]["port"] = 0
    raw["simulation"]["parameters"]["imaging"] = dict(TEST_IMAGING)
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return parse_config(raw)
