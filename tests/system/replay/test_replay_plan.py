"""`acq replay UID --plan`: a run of the session's pressure series replayed against simulated
devices that play back its readings (real IOCs, real Channel Access, the real Tiled server)."""

from __future__ import annotations

import numpy as np
import pytest

from acq.analysis.raw_run import half_cycles
from acq.cli import main
from acq.replay.plan import ReplayError, read_recording, recorded_plan, replay_plan


@pytest.fixture(scope="module")
def runs(pressure_series_run, station_config, tiled_server, tiled_client):
    """(source, replay): the series' last run and its replay, as Tiled clients."""
    source = pressure_series_run.uids[-1]
    (replay,) = replay_plan(station_config, source, tiled_server.uri, tiled_server.api_key)
    raw = tiled_client["raw"]
    return raw[source], raw[replay]


@pytest.fixture(scope="module")
def recordings(runs):
    """(source, replay): what each run measured, read back from Tiled."""
    return tuple(read_recording(run) for run in runs)


def _count(run, stream: str) -> int:
    """Events (or, for a fly scan's frames, stream data) in ``stream`` (0 for a stream with
    none: every run has an ``interruptions`` stream, empty unless it was interrupted)."""
    columns = list(run[stream])
    return run[stream][columns[0]].shape[0] if columns else 0


def test_the_replay_is_a_new_run_marked_as_a_replay_of_its_source(runs):
    source, replay = runs
    recorded, replayed = source.metadata["start"], replay.metadata["start"]
    assert replayed["uid"] != recorded["uid"]
    assert replayed["replay"] is True and replayed["replay_of"] == recorded["uid"]
    assert replayed["plan_name"] == recorded["plan_name"] == "pressure_series"
    assert replayed["pressure_MPa"] == recorded["pressure_MPa"]
    assert (replayed["sample"], replayed["cell"]) == (recorded["sample"], recorded["cell"])
    assert replay.metadata["stop"]["exit_status"] == "success"


def test_the_replay_has_the_recorded_streams_and_event_counts(runs):
    """Every stream, with as many events, but the live ``trace``: it is read every poll
    interval while a half cycle runs, so its length follows the wall clock."""
    source, replay = runs
    assert set(replay) == set(source)
    for stream in set(source) - {"trace"}:
        assert _count(replay, stream) == _count(source, stream), stream
    assert _count(replay, "trace") >= 2


def test_the_settled_pressure_is_the_recorded_one(recordings):
    source, replay = recordings
    assert replay.press == source.press


def test_spectra_and_half_cycle_traces_are_the_recorded_ones(recordings):
    source, replay = recordings
    for replayed, recorded in zip(replay.spectra, source.spectra, strict=True):
        for name in ("frequency_Hz", "z_real_ohm", "z_imag_ohm"):
            np.testing.assert_allclose(
                getattr(replayed, name), getattr(recorded, name), rtol=1e-12
            )
    for replayed, recorded in zip(replay.half_cycles, source.half_cycles, strict=True):
        assert replayed.termination_reason == recorded.termination_reason
        assert replayed.capacity_mAh == pytest.approx(recorded.capacity_mAh, rel=1e-12)
        for name in ("time_s", "voltage_V", "current_A"):
            np.testing.assert_allclose(
                getattr(replayed, name), getattr(recorded, name), rtol=1e-12
            )


def test_the_live_trace_is_read_from_the_played_back_half_cycles(runs):
    source, replay = runs
    recorded = np.concatenate([half.voltage_V for half in half_cycles(source)])
    live = np.asarray(replay["trace"]["pstat_voltage_V"].read())
    assert live.size >= 2  # an empty trace would pass the check below
    assert np.isin(live, recorded).all()


def test_ct_frames_are_the_recorded_ones(recordings):
    source, replay = recordings
    for name in ("darks", "flats", "projections"):
        np.testing.assert_array_equal(getattr(replay.frames, name), getattr(source.frames, name))
    np.testing.assert_allclose(replay.frames.angles_deg, source.frames.angles_deg, atol=1e-9)


def test_a_missing_run_is_an_error_naming_it(station_config, tiled_server):
    with pytest.raises(ReplayError, match="no-such-run"):
        replay_plan(station_config, "no-such-run", tiled_server.uri, tiled_server.api_key)


def test_a_plan_that_departs_from_its_recording_fails_naming_the_run(
    pressure_series_run, station_config, tiled_server, monkeypatch
):
    def one_more_point_per_decade(run):
        name, args = recorded_plan(run)
        return name, {**args, "eis_points_per_decade": args["eis_points_per_decade"] + 1}

    monkeypatch.setattr("acq.replay.plan.recorded_plan", one_more_point_per_decade)
    source = pressure_series_run.uids[-1]
    with pytest.raises(ReplayError, match=f"{source}.*spectrum 1 was recorded at"):
        replay_plan(station_config, source, tiled_server.uri, tiled_server.api_key)


def test_the_command_line_exits_non_zero_with_that_message(
    station_config, tiled_server, monkeypatch, capsys
):
    raw = station_config.model_dump(mode="json")
    raw["tiled"].update(uri=tiled_server.uri, api_key=tiled_server.api_key)
    config = type(station_config).model_validate(raw)
    monkeypatch.setattr("acq.cli.load_config", lambda path: config)
    assert main(["replay", "no-such-run", "--plan"]) != 0
    assert "no-such-run" in capsys.readouterr().err
