"""The station's experiment clock (`devices.station_clock`): the simulated station's PVs, the
wall clock of a hardware station, and the one data key, ``experiment_time_s``, either puts in
an event (ophyd's fakes and a RunEngine, no IOC)."""

from __future__ import annotations

import time

import bluesky.plans as bp

from acq.beamline.station import make_clock
from conventions import data_keys
from devices.station_clock import StationClock, WallClock


def _events(RE, clock) -> list[dict]:
    RE.documents.clear()
    RE(bp.count([clock], num=2))
    return [document for name, document in RE.documents if name == "event"]


def test_a_simulated_station_reads_its_served_clock_afresh(config):
    clock = make_clock(config, fake=True)
    assert isinstance(clock, StationClock) and not isinstance(clock, WallClock)
    assert clock.prefix == config.station.prefix + "station:"
    served = StationClock.experiment_time_s
    assert (served.suffix, StationClock.time_scale.suffix) == ("ExperimentTime", "TimeScale")
    # The IOC computes ExperimentTime when read and posts no monitor: a get each read.
    assert served.kwargs["auto_monitor"] is False
    assert list(clock.read()) == [data_keys.EXPERIMENT_TIME]
    assert list(clock.read_configuration()) == [f"{data_keys.CLOCK}_time_scale"]


def test_an_event_carries_the_served_experiment_time(RE, config):
    clock = make_clock(config, fake=True)
    clock.time_scale.sim_put(1e5)
    ahead_s = 4e6  # some weeks into the simulated experiment
    clock.experiment_time_s.sim_put(time.time() + ahead_s)
    events = _events(RE, clock)
    assert len(events) == 2
    for event in events:
        assert event["data"][data_keys.EXPERIMENT_TIME] - event["time"] > 0.9 * ahead_s


def test_a_hardware_station_reads_the_wall_clock_under_the_same_key(RE, config):
    clock = make_clock(config.model_copy(update={"simulation": None}))
    assert isinstance(clock, WallClock)
    assert clock.time_scale.get() == 1.0
    before = time.time()
    (reading,) = clock.read().values()
    assert before <= reading["value"] == reading["timestamp"] <= time.time()
    first, second = _events(RE, clock)
    for event in (first, second):
        assert abs(event["data"][data_keys.EXPERIMENT_TIME] - event["time"]) < 1.0
    assert second["data"][data_keys.EXPERIMENT_TIME] > first["data"][data_keys.EXPERIMENT_TIME]
