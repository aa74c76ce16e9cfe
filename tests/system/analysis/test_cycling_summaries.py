"""What a paper reports of a cycling run, in its analysis run's summary in Tiled, live: a
cycling run's retention, knee, end of life and failure, each ``"none"`` where there is none
(the session's cell is a full cell with lithium to spare and no contact loss). A CCD's
failure, step and densities on a symmetric cell, a full cell's contact loss:
``system/test_shipped_cells.py``."""

from __future__ import annotations

import pytest

from acq.analysis.live import LiveAnalysis
from acq.analysis.results import analysis_summary
from acq.runtime.engine import make_run_engine
from acq.runtime.streaming import BackgroundWriter
from plans import galvanostatic_cycles, lithium_inventory_cycling


@pytest.fixture(scope="module")
def run_engine(station, station_config, tiled_client):
    """The station's RunEngine, its runs analysed live in process into Tiled."""
    engine = make_run_engine(station_config, tiled_client, lock=station.lock)
    analyser = BackgroundWriter(
        LiveAnalysis(tiled_client, circuit=station_config.analysis.circuit, run_timeout_s=60),
        name="live-analysis",
    )
    engine.RE.subscribe(analyser)
    yield engine
    engine.close()
    assert analyser.flush(60) and analyser.failures == 0
    analyser.close()


def summary_of(tiled_client, uid: str) -> dict:
    """The analysis run's ``summary`` of raw run ``uid``, as one row of plain values."""
    return analysis_summary(tiled_client["analysis"], uid, timeout_s=60)


def returned(plan, result: dict):
    """Run ``plan``, keeping what it returns in ``result``."""
    result.update((yield from plan))


def test_galvanostatic_cycles_report_retention_and_no_knee_nor_end_of_life(
    station, run_engine, tiled_client
):
    (uid,) = run_engine.RE(
        galvanostatic_cycles(station.potentiostat, cycles=6, c_rate=1.0, poll_interval_s=0.05)
    )
    summary = summary_of(tiled_client, uid)
    assert summary["final_retention"] == pytest.approx(1.0, abs=0.02)
    assert summary["end_of_life_cycle"] == "none"
    assert summary["capacity_knee_cycle"] == "none"
    # A full cell's polarisation from its hysteresis, flat without contact loss.
    assert summary["failure"] == "none"
    assert summary["polarisation_asr_ohm_cm2"] > 0
    assert abs(summary["polarisation_rise"]) < 0.02


def test_lithium_inventory_cycling_reports_its_end_of_life_explicitly(
    station, run_engine, tiled_client
):
    (uid,) = run_engine.RE(
        lithium_inventory_cycling(
            station.potentiostat, c_rate=1.0, max_cycles=4, poll_interval_s=0.05
        )
    )
    summary = summary_of(tiled_client, uid)
    assert summary["end_of_life_cycle"] == "none"
    assert summary["end_of_life_retention"] == pytest.approx(0.8)
    assert summary["final_retention"] == pytest.approx(1.0, abs=0.02)
    assert "capacity_knee_cycle" not in summary  # fewer than 6 cycles: not looked for
