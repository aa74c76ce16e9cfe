"""One time base, over real Channel Access: every simulated PV's timestamp is the wall clock
(a station whose clock runs 1e5 times fast stamped its press and potentiostat PVs, and its
motors' readbacks, in experiment time: a run's ``ts_press_pressure_MPa`` was 49 days ahead
of its event ``time``), and experiment time is a value of its own,
``<prefix>station:ExperimentTime``, which every event carries as ``experiment_time_s``."""

from __future__ import annotations

import itertools
import time

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from caproto.sync.client import read

from acq.beamline import station_plans
from conventions import data_keys

#: Wall seconds a reading's timestamp may lag the read (a loaded host, one IOC tick).
LAG_S = 5.0


def _stamped(pv: str) -> tuple[float, float]:
    """(value, timestamp) of ``pv``."""
    response = read(pv, data_type="time", timeout=5, repeater=False)
    return float(response.data[0]), response.metadata.timestamp


def test_a_pressure_reading_is_stamped_with_the_wall_clock(station):
    press = station.config.station.prefix + station.config.press.prefix
    for suffix in ("Pressure", "Force", "fb.CVAL"):
        _, stamp = _stamped(press + suffix)
        assert abs(stamp - time.time()) < LAG_S, suffix


def test_motor_and_potentiostat_readings_are_stamped_with_the_wall_clock(RE, station):
    prefix = station.config.station.prefix
    rotation = station.tomo_stage.rotation
    RE(bps.mv(rotation, rotation.position + 1.0))
    for pv in (
        prefix + station.config.tomography.prefix + "rot.RBV",
        prefix + station.config.potentiostat.prefix + "EWE",
    ):
        _, stamp = _stamped(pv)
        assert stamp <= time.time() + 1.0, pv  # not ahead: the wall clock of its last write
    _, stamp = _stamped(prefix + station.config.tomography.prefix + "rot.RBV")
    assert abs(stamp - time.time()) < LAG_S


def test_an_events_time_and_its_readings_timestamps_agree(RE, station):
    """What Tiled stores as an event's ``time`` and its ``ts_*`` columns."""
    RE.documents.clear()
    RE(bp.count([station.press], num=2))
    events = [document for name, document in RE.documents if name == "event"]
    assert len(events) == 2
    for event in events:
        for key in ("press_pressure_MPa", "press_force_N"):
            assert abs(event["timestamps"][key] - event["time"]) < LAG_S, key


def test_experiment_time_is_served_as_data(station):
    prefix = station.config.station.prefix + "station:"
    scale, _ = _stamped(prefix + "TimeScale")
    assert scale == station.config.station.time_scale
    first, first_stamp = _stamped(prefix + "ExperimentTime")
    time.sleep(0.5)
    second, second_stamp = _stamped(prefix + "ExperimentTime")
    assert abs(second_stamp - time.time()) < LAG_S  # stamped as read, on the wall clock
    assert second - first == pytest.approx((second_stamp - first_stamp) * scale, rel=0.05)
    assert second > time.time() + 0.4 * scale  # experiment time runs ahead


def test_an_events_experiment_time_runs_time_scale_faster_than_its_time(RE, station):
    """Every event carries ``experiment_time_s`` (the station's clock, read over Channel
    Access with the event's other readings) beside its wall-clock ``time``."""
    scale = station.config.station.time_scale
    RE.documents.clear()
    RE(bp.count([station.press, station.clock], num=3, delay=1.0))
    (descriptor,) = [document for name, document in RE.documents if name == "descriptor"]
    assert descriptor["configuration"][data_keys.CLOCK]["data"]["clock_time_scale"] == scale
    events = [document for name, document in RE.documents if name == "event"]
    assert len(events) == 3
    for event in events:
        stamps = event["timestamps"]
        assert abs(stamps[data_keys.EXPERIMENT_TIME] - event["time"]) < 1.0  # read as stamped
        for key in (data_keys.PRESS_PRESSURE, data_keys.PRESS_FORCE):
            assert abs(stamps[key] - event["time"]) < LAG_S, key
        assert event["data"][data_keys.EXPERIMENT_TIME] > event["time"] + 0.4 * scale
    for earlier, later in itertools.pairwise(events):
        wall_s = later["time"] - earlier["time"]
        experiment_s = (
            later["data"][data_keys.EXPERIMENT_TIME] - earlier["data"][data_keys.EXPERIMENT_TIME]
        )
        assert wall_s > 0.5  # the delay apart
        assert experiment_s == pytest.approx(wall_s * scale, rel=0.1)


def test_a_station_plan_as_acq_run_binds_it_records_the_experiment_time(RE, station):
    """The registry fills the plan's ``clock`` from the station, as ``acq run`` and the queue
    server do, and its event carries the served experiment time."""
    plan = station_plans()["eis_sweep"]
    arguments = plan.bind(station, {"points_per_decade": 2}, fill_optional=True)
    assert arguments["clock"] is station.clock
    RE.documents.clear()
    RE(plan.function(**arguments))
    (event,) = [document for name, document in RE.documents if name == "event"]
    assert abs(event["timestamps"][data_keys.EXPERIMENT_TIME] - event["time"]) < 1.0
    scale = station.config.station.time_scale
    assert event["data"][data_keys.EXPERIMENT_TIME] > event["time"] + 0.4 * scale
