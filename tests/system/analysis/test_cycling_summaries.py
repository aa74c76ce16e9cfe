"""What a paper reports of a cycling run, in its analysis run's summary in Tiled, live: a
CCD's failure, step and densities, a cycling run's retention, knee and end of life, each
``"none"`` where there is none (the session's cell is a full cell with lithium to spare)."""

from __future__ import annotations

import math

import pytest

from acq.analysis.live import LiveAnalysis
from acq.analysis.results import analysis_summary
from acq.runtime.engine import make_run_engine
from acq.runtime.streaming import BackgroundWriter
from plans import critical_current_density, galvanostatic_cycles, lithium_inventory_cycling


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


def test_a_ccd_summary_names_the_failure_and_density_the_plan_stopped_at(
    station, run_engine, tiled_client
):
    """On the session's full cell the staircase fails (its voltage is no symmetric cell's):
    the analysis finds the plan's failure at the plan's step, from the recorded half cycles
    and the start document's staircase."""
    outcome: dict = {}
    (uid,) = run_engine.RE(
        returned(
            critical_current_density(
                station.potentiostat,
                start_mA_cm2=0.1,
                step_mA_cm2=0.1,
                max_mA_cm2=0.5,
                half_cycle_h=0.05,
                poll_interval_s=0.05,
            ),
            outcome,
        )
    )
    assert outcome["failure"] is not None, outcome  # else this test shows nothing
    summary = summary_of(tiled_client, uid)
    densities = tiled_client["raw"][uid].metadata["start"]["technique"]["current_densities_mA_cm2"]
    assert summary["failure"] == outcome["failure"]
    ccd = summary["critical_current_density_mA_cm2"]
    assert ccd == pytest.approx(outcome["critical_current_density_mA_cm2"])
    step = int(summary["failed_step_index"])
    assert ccd == pytest.approx(densities[step])
    assert summary["last_passed_mA_cm2"] == pytest.approx(densities[step - 1] if step else 0.0)
    assert summary["failed_half_cycle"] in ("plating", "stripping")
    # A full cell's voltage is not its polarisation: no trend, no contact loss told.
    assert math.isnan(summary["polarisation_growth_per_h"])


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
    assert "failure" not in summary  # a full cell's cycling is no staircase


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
