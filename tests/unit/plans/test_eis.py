"""`eis_sweep` with bluesky's RunEngineSimulator on the fake station."""

from __future__ import annotations

import pytest

from conventions import data_keys
from plans import eis_sweep
from tests.unit.plans.helpers import commands, start_of


def test_eis_sweep_configures_then_reads_one_spectrum_and_ends_with_the_cell_off(
    sim, fake_station
):
    pstat = fake_station.potentiostat
    messages = sim.simulate_plan(
        eis_sweep(
            pstat,
            start_frequency_Hz=1e5,
            stop_frequency_Hz=1.0,
            points_per_decade=5,
            detectors=[fake_station.press],
        )
    )
    sets = {m.obj.name: m.args[0] for m in commands(messages, "set")}
    assert sets["pstat_eis_initial_frequency_Hz"] == 1e5
    assert sets["pstat_eis_points_per_decade"] == 5
    assert [m.obj.name for m in commands(messages, "trigger")] == ["pstat_eis", "press"]
    assert [m.kwargs["name"] for m in commands(messages, "create")] == [data_keys.PRIMARY]
    assert messages[-1].command == "wait"
    assert commands(messages, "set")[-1].obj.name == "pstat_stop_command"
    start = start_of(messages)
    assert start["technique"] == {
        "name": "PEIS",
        "start_frequency_Hz": 1e5,
        "stop_frequency_Hz": 1.0,
        "points_per_decade": 5,
        "amplitude_V": 0.01,
    }
    assert start["detectors"] == ["pstat", "press"] and start["num_points"] == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"start_frequency_Hz": 1e8}, "start_frequency_Hz"),
        ({"stop_frequency_Hz": float("nan")}, "stop_frequency_Hz"),
        ({"points_per_decade": 0}, "points_per_decade"),
        ({"points_per_decade": 100}, "exceed"),
        ({"amplitude_V": -0.01}, "amplitude_V"),
    ],
)
def test_bad_eis_settings_are_refused_with_their_name_before_any_message(
    sim, fake_station, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        sim.simulate_plan(eis_sweep(fake_station.potentiostat, **kwargs))
