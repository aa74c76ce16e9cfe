"""The station the tests use: the default config, small."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from acq.config import StationConfig, load_config, parse_config

#: A small but complete station: tiny CT volume, fast clock, short dwell.
TEST_IMAGING = {"diameter_voxels": 64, "electrode_slices": 16, "electrolyte_slices": 8}


def small_station_config(data_dir: Path, **overrides: dict) -> StationConfig:
    """The default station config with a small CT volume, data under ``data_dir``, a PV
    prefix of its own and the Channel Access ports of this test run (`tests.conftest`)."""
    raw = load_config().model_dump(mode="json")
    raw["station"]["data_dir"] = str(data_dir)
    raw["station"]["prefix"] = f"T{secrets.token_hex(3)}:"
    raw["station"]["ca_server_port"] = int(os.environ["EPICS_CA_SERVER_PORT"])
    raw["station"]["ca_repeater_port"] = int(os.environ["EPICS_CA_REPEATER_PORT"])
    raw["press"]["dwell_s"] = 0.2
    raw["tiled"]["port"] = 0
    raw["simulation"]["parameters"]["imaging"] = dict(TEST_IMAGING)
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return parse_config(raw)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def write_toml(config: StationConfig, path: Path) -> Path:
    """``config`` as a station TOML file at ``path`` (what `acq --config` reads)."""
    lines: list[str] = []

    def table(name: str, values: dict) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, dict) and v is not None}
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in scalars.items())
        for key, value in values.items():
            if isinstance(value, dict):
                table(f"{name}.{key}", value)

    for section, values in config.model_dump(mode="json").items():
        if values is not None:
            table(section, values)
    path.write_text("\n".join(lines) + "\n")
    return path
