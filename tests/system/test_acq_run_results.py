"""``acq run`` prints what a plan returns besides its runs (a CCD and its failure), after the
line naming the runs."""

from __future__ import annotations

import re

import pytest

from acq.cli import main
from tests.stations import write_toml


@pytest.fixture(scope="module")
def config_file(session_config, tmp_path_factory):
    return write_toml(session_config, tmp_path_factory.mktemp("results") / "station.toml")


def test_a_ccd_prints_the_critical_current_density_and_the_failure(station, config_file, capfd):
    argv = ["run", "critical_current_density", "--config", str(config_file)]
    for param in ("start_mA_cm2=0.1", "step_mA_cm2=0.1", "max_mA_cm2=0.2", "half_cycle_h=0.05"):
        argv += ["--param", param]
    status = main(argv)
    out, err = capfd.readouterr()
    assert status == 0, out[-2000:] + err[-3000:]
    lines = out.strip().splitlines()
    runs = next(
        i for i, line in enumerate(lines) if line.startswith("critical_current_density: run")
    )
    result = lines[runs + 1 :]
    assert any(re.fullmatch(r"  critical_current_density_mA_cm2 = \S+", line) for line in result)
    assert any(re.fullmatch(r"  failure = \S+", line) for line in result), result
    assert not any(line.startswith("  uid =") for line in result)  # named on the line above
