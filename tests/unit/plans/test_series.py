"""`pressure_series` with bluesky's RunEngineSimulator on the fake station."""

from __future__ import annotations

from conventions import data_keys
from conventions.pv_states import HalfCycleEnd, Shutter
from plans import pressure_series
from tests.unit.plans.helpers import commands
from tests.unit.plans.test_cycling import instrument


def test_one_linked_run_per_pressure_each_settled_measured_and_imaged(sim, fake_station):
    station = fake_station
    instrument(
        sim, station.potentiostat, polls=1, reason=HalfCycleEnd.UPPER_CUTOFF, voltage_V=[3.0, 3.6]
    )
    messages = sim.simulate_plan(
        pressure_series(
            station.press,
            station.potentiostat,
            station.tomo_stage,
            station.detector,
            pressures_MPa=[6.0, 50.0],
            ct_num_projections=3,
            ct_num_darks=1,
            ct_num_flats=1,
            cycles=1,
        )
    )
    starts = [m.kwargs for m in commands(messages, "open_run")]
    assert [s["pressure_MPa"] for s in starts] == [6.0, 50.0]
    assert len({s["series_uid"] for s in starts}) == 1
    assert [s["series_index"] for s in starts] == [0, 1]
    assert set(starts[0]["technique"]) == {"eis", "ct", "cycling", "pressure"}
    assert starts[0]["detectors"] == ["press", "pstat", "det"]
    streams = [m.kwargs["name"] for m in commands(messages, "create")]
    assert streams.count(data_keys.EIS) == 2 and streams.count(data_keys.PROJECTION) == 6
    assert streams.count(data_keys.HALF_CYCLE) == 4
    assert commands(messages, "set")[-1].obj.name == "tomo_shutter"
    assert commands(messages, "set")[-1].args == (Shutter.CLOSED,)
    assert "pstat_stop_command" in [m.obj.name for m in commands(messages, "set")[-2:]]
