"""``acq run`` refuses bad input with one line naming it, exit status 2, no traceback, and
nothing moved or energised (the press keeps its setpoint, the cell stays off).

The command runs in this process (`acq.cli.main`, as the ``acq`` script calls it): each case
then costs a station connection, not a Python start-up.
"""

from __future__ import annotations

import pytest

from acq.cli import main
from conventions.pv_states import Switch
from tests.stations import write_toml


@pytest.fixture(scope="module")
def config_file(session_config, tmp_path_factory):
    return write_toml(session_config, tmp_path_factory.mktemp("refusals") / "station.toml")


@pytest.mark.parametrize(
    ("plan", "params", "named"),
    [
        ("pressure_step", ["pressure_MPa=NaN"], "pressure_MPa must be a finite number"),
        ("pressure_step", ["pressure_MPa=1e9"], "outside the cell's limits"),
        ("pressure_step", ["pressure_MPa=-1"], "pressure_MPa cannot be negative"),
        ("pressure_step", ["pressure_MPa=25", "nonsense=1"], "nonsense"),
        ("pressure_step", [], "pressure_MPa"),
        ("pressure_step", ["pressure_MPa=25", 'md={"pressure_MPa": 100}'], "pressure_MPa"),
        ("pressure_step", ["pressure_MPa=25", 'md={"station": "fake"}'], "station"),
        # refused by the current's limits (the potentiostat's compliance), before the cell is on
        ("galvanostatic_cycles", ["cycles=1", "c_rate=1e9"], "c_rate = 1e+09 1/h for the cell"),
        ("galvanostatic_cycles", ["cycles=1", "c_rate=0.1", "poll_interval_s=1e9"], "poll"),
        ("ct_scan", ["num_projections=11", "exposure_s=1e9"], "exposure_s"),
    ],
)
def test_bad_input_is_one_line_and_nothing_moves(station, config_file, plan, params, named, capfd):
    setpoint = station.press.setpoint.get(use_monitor=False)
    argv = ["run", plan, "--config", str(config_file)]
    for param in params:
        argv += ["--param", param]
    status = main(argv)
    out, err = capfd.readouterr()
    assert status == 2, out[-2000:] + err[-3000:]
    assert "Traceback" not in out + err, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("acq: ") and named in lines[0], err
    assert station.press.setpoint.get(use_monitor=False) == setpoint
    assert station.potentiostat.cell_on.get(use_monitor=False) == Switch.OFF
