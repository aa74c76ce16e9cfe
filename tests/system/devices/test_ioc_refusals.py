"""A put the simulated IOCs refuse says why in the IOC's message PV (``ErrorMsg``, ``ERR``),
over real Channel Access from a client that skips ophyd's checks (pyepics' caput, which
reports every put as done: the message is how a client learns of the refusal)."""

from __future__ import annotations

import math

import epics
import pytest

from conventions.pv_states import Switch
from tests.system.messages import read_message


def _put_refused(pv: str, value, message_pv: str) -> str:
    before = epics.caget(pv, use_monitor=False, timeout=5)
    epics.caput(pv, value, wait=True, timeout=5)
    after = epics.caget(pv, use_monitor=False, timeout=5)
    assert after == before or (isinstance(before, float) and math.isnan(before))
    return read_message(message_pv)


def _pstat(station, suffix: str) -> str:
    return station.config.station.prefix + station.config.potentiostat.prefix + suffix


def _tomo(station, suffix: str) -> str:
    return station.config.station.prefix + station.config.tomography.prefix + suffix


def test_current_beyond_compliance_says_why(station):
    compliance = station.config.potentiostat.compliance_current_A
    message = _put_refused(
        _pstat(station, "T:CP:0:Current:SP"), 10 * compliance, _pstat(station, "ERR")
    )
    assert f"T:CP:0:Current:SP={10 * compliance!r} refused: outside [-{compliance:g}, " in message


def test_cell_is_not_switched_on_without_a_technique(station):
    """The finding: a direct put energised the cell with no run."""
    message = _put_refused(_pstat(station, "CELL:SP"), Switch.ON, _pstat(station, "ERR"))
    assert "CELL:SP='On' refused: the cell is switched on by START" in message
    assert epics.caget(_pstat(station, "CELL"), as_string=True, use_monitor=False) == Switch.OFF


@pytest.mark.parametrize(
    "suffix, bad, why",
    [
        ("cam1:AcquireTime", 0.0, "must be > 0"),
        ("cam1:AcquireTime", -1.0, "must be > 0"),
        ("cam1:AcquireTime", float("nan"), "must be > 0"),
        ("cam1:AcquireTime", 1e9, "<= 3600 s"),
        ("cam1:AcquireTime", math.inf, "<= 3600 s"),
        ("cam1:NumImages", 0, "must be >= 1"),
        ("cam1:NumImages", -3, "must be >= 1"),
    ],
)
def test_detector_setting_refused_says_why(station, suffix, bad, why):
    message = _put_refused(_tomo(station, suffix), bad, _tomo(station, "ErrorMsg"))
    assert f"{suffix}=" in message and "refused" in message and why in message
    readback = epics.caget(_tomo(station, suffix + "_RBV"), use_monitor=False, timeout=5)
    assert readback == epics.caget(_tomo(station, suffix), use_monitor=False, timeout=5)


@pytest.mark.parametrize("bad", ["/etc/", "../../../../etc/cron.d"])
def test_file_path_outside_the_data_directory_refused(station, bad):
    pv = _tomo(station, "HDF1:FilePath")
    epics.caput(pv, bad, wait=True, timeout=5)
    assert epics.caget(pv, as_string=True, use_monitor=False) != bad
    assert epics.caget(_tomo(station, "HDF1:FilePath_RBV"), as_string=True) != bad
    message = read_message(_tomo(station, "ErrorMsg"))
    assert "refused: outside the data directory" in message


def test_file_name_leading_out_of_the_data_directory_is_not_opened(station, tmp_path):
    frames = station.config.frames_dir
    epics.caput(_tomo(station, "HDF1:FilePath"), str(frames) + "/", wait=True, timeout=5)
    epics.caput(_tomo(station, "HDF1:FileName"), "../../escaped", wait=True, timeout=5)
    try:
        epics.caput(_tomo(station, "HDF1:Capture"), 1, wait=True, timeout=5)
        assert epics.caget(_tomo(station, "HDF1:Capture_RBV"), use_monitor=False) == 0
        message = read_message(_tomo(station, "ErrorMsg"))
        assert "outside the data directory" in message
        assert not list(frames.parent.parent.glob("escaped*"))
        # As areaDetector's file plugins say it: WriteStatus and WriteMessage.
        status = epics.caget(_tomo(station, "HDF1:WriteStatus"), as_string=True, use_monitor=False)
        assert status == "Write error"
        assert read_message(_tomo(station, "HDF1:WriteMessage")) == message
        epics.caput(_tomo(station, "HDF1:FileName"), "scan", wait=True, timeout=5)
        epics.caput(_tomo(station, "HDF1:Capture"), 1, wait=True, timeout=5)  # opened
        epics.caput(_tomo(station, "HDF1:Capture"), 0, wait=True, timeout=5)
        status = epics.caget(_tomo(station, "HDF1:WriteStatus"), as_string=True, use_monitor=False)
        assert status == "Write OK"
        assert read_message(_tomo(station, "HDF1:WriteMessage")) == ""
    finally:
        epics.caput(_tomo(station, "HDF1:FileName"), "scan", wait=True, timeout=5)
