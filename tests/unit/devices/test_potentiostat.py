"""The potentiostat on ophyd's fake signals: a technique's outcome as the IOC publishes it
(sequence counter, status, message), its expected duration, pause and the keys it reads."""

from __future__ import annotations

import numpy as np
import pytest

from conventions import data_keys
from conventions.impedance import sweep_frequencies_Hz
from conventions.pv_states import Outcome, Technique
from devices.potentiostat import Potentiostat, TechniqueFailed


def instrument(
    pstat: Potentiostat, outcome: Outcome, message: str = "", advance: bool = True
) -> None:
    """Make the fake START behave as the IOC: run, then publish the outcome."""

    def start(value: int) -> None:
        if advance:
            pstat.sequence.sim_put(pstat.sequence.get() + 1)
        pstat.outcome.sim_put(outcome)
        pstat.error_message.sim_put(message)
        pstat.start.sim_put(value)  # the put has completed

    pstat.sequence.sim_put(7)
    pstat.start.sim_set_putter(start)


@pytest.fixture
def pstat(fake_station) -> Potentiostat:
    return fake_station.potentiostat


def test_a_technique_the_instrument_ends_well_succeeds(pstat):
    instrument(pstat, Outcome.OK)
    status = pstat.run_technique(Technique.PEIS, timeout_s=5)
    status.wait(2)
    assert pstat.technique.get() == Technique.PEIS and status.success


def test_a_technique_that_fails_says_what_the_instrument_said(pstat):
    instrument(pstat, Outcome.ERROR, "CP refused: current beyond compliance")
    with pytest.raises(TechniqueFailed, match="beyond compliance"):
        pstat.run_technique(Technique.CP, timeout_s=5).wait(2)


def test_an_instrument_that_publishes_no_outcome_is_not_taken_at_its_word(pstat):
    instrument(pstat, Outcome.OK, advance=False)
    with pytest.raises(TechniqueFailed, match="published no outcome"):
        pstat.run_technique(Technique.OCV, timeout_s=5).wait(2)


def test_a_sweep_lasts_a_few_periods_of_each_of_its_frequencies(pstat):
    eis = pstat.eis
    for signal, value in (
        (eis.initial_frequency_Hz, 1e5),
        (eis.final_frequency_Hz, 1.0),
        (eis.points_per_decade, 2),
    ):
        signal.sim_put(value)
    np.testing.assert_allclose(eis.frequencies_Hz(), sweep_frequencies_Hz(1e5, 1.0, 2))
    assert eis.expected_duration_s() == pytest.approx(3 * np.sum(1 / eis.frequencies_Hz()) + 1)


def test_a_pause_stops_the_technique_and_switches_the_cell_off(pstat):
    pstat.eis.pause()
    assert pstat.stop_command.get() == 1


def test_the_readings_carry_the_keys_the_analysis_reads(pstat):
    described = pstat.describe()
    for key in (
        data_keys.SPECTRUM_FREQUENCY,
        data_keys.SPECTRUM_Z_REAL,
        data_keys.SPECTRUM_Z_IMAG,
        data_keys.SPECTRUM_POINTS,
        data_keys.LIVE_TIME,
        data_keys.LIVE_VOLTAGE,
        data_keys.LIVE_CURRENT,
        data_keys.LIVE_CHARGE,
        data_keys.HALF_CYCLE_TIME,
        data_keys.HALF_CYCLE_VOLTAGE,
        data_keys.HALF_CYCLE_CURRENT,
        data_keys.HALF_CYCLE_POINTS,
        data_keys.HALF_CYCLE_CAPACITY,
        data_keys.HALF_CYCLE_REASON,
    ):
        assert key in described, key
    # Waveforms are read, not tabulated: only scalars are hinted.
    assert set(pstat.eis.hints["fields"]) == {data_keys.SPECTRUM_POINTS}


def test_a_clock_that_does_not_run_forward_is_refused(fake_station):
    with pytest.raises(ValueError, match="time_scale"):
        type(fake_station.potentiostat)("X:", name="p", time_scale=0.0)
