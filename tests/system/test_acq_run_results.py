"""``acq run`` prints what a plan returns besides its runs (the cycles to end of life), after
the line naming the runs; a plan the cell cannot run is one line (its traceback with
``--debug``)."""

from __future__ import annotations

import re

import pytest

from acq.cli import main
from tests.stations import write_toml


@pytest.fixture(scope="module")
def config_file(session_config, tmp_path_factory):
    return write_toml(session_config, tmp_path_factory.mktemp("results") / "station.toml")


def test_cycling_to_end_of_life_prints_what_the_plan_returned(station, config_file, capfd):
    argv = ["run", "lithium_inventory_cycling", "--config", str(config_file)]
    for param in ("c_rate=2", "max_cycles=2", "reference_cycles=1", "record_interval_s=60"):
        argv += ["--param", param]
    # No analysis worker serves this station: its summaries are `acq serve`'s
    # (system/test_shipped_cells.py).
    status = main([*argv, "--analysis-wait-s", "0"])
    out, err = capfd.readouterr()
    assert status == 0, out[-2000:] + err[-3000:]
    lines = out.strip().splitlines()
    runs = next(
        i for i, line in enumerate(lines) if line.startswith("lithium_inventory_cycling: run")
    )
    result = lines[runs + 1 :]
    assert "  cycles = 2" in result, result
    assert "  end_of_life_cycle = None" in result
    assert any(re.fullmatch(r"  reference_capacity_mAh = [\d.e-]+", line) for line in result)
    assert not any(line.startswith("  uid =") for line in result)  # named on the line above


def test_a_ccd_on_a_full_cell_is_one_line_and_debug_shows_the_traceback(config_file, capfd):
    argv = ["run", "critical_current_density", "--config", str(config_file)]
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "needs a symmetric cell" in err and "Traceback" not in err
    assert main([*argv, "--debug"]) == 2
    err = capfd.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("acq: ")
