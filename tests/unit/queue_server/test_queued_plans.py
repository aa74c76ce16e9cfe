"""The plans as the queue server describes them (fake station: no IOC, no Redis): resolved
types, the station's device names as the only choices, and the config's limits."""

from __future__ import annotations

import inspect
import math

import pytest

from acq.config import load_config, parse_config
from acq.queue_server.queued_plans import parameter_limits, queue_plans


@pytest.fixture
def queued(config, fake_station):
    return queue_plans(config, fake_station)


def annotation(plan) -> dict:
    return plan._custom_parameter_annotation_["parameters"]


def test_every_plan_is_described_with_a_resolved_signature(queued):
    assert set(queued) >= {"pressure_step", "eis_sweep", "pressure_series", "ct_scan"}
    for plan in queued.values():
        for parameter in inspect.signature(plan).parameters.values():
            assert not isinstance(parameter.annotation, str), (plan.__name__, parameter)


def test_device_parameters_name_the_stations_devices_of_their_class(queued):
    series = annotation(queued["pressure_series"])
    assert series["press"] == {
        "annotation": "PressureCell",
        "devices": {"PressureCell": ["press"]},
    }
    assert series["position_compare"]["annotation"] == "typing.Optional[PositionCompare]"
    assert annotation(queued["eis_sweep"])["detectors"]["annotation"] == ("typing.List[Device]")


def test_pressures_currents_and_voltages_carry_the_configs_limits(config, queued):
    step = annotation(queued["pressure_step"])["pressure_MPa"]
    assert (step["min"], step["max"]) == (0.0, config.max_pressure_MPa)
    limits = parameter_limits(config)
    compliance = config.potentiostat.compliance_voltage_V
    assert limits["upper_cutoff_V"] == (-compliance, compliance)
    assert limits["c_rate"][1] == pytest.approx(
        1e3 * config.potentiostat.compliance_current_A / config.cell.nominal_capacity_mAh
    )


def test_a_small_load_cell_limits_the_pressure_below_the_rating():
    raw = load_config().model_dump(mode="json")
    raw["press"]["load_cell_range_N"] = 50.0  # over a 1 mm disc: 63.7 MPa < 150 MPa rating
    assert parse_config(raw).max_pressure_MPa == pytest.approx(50.0 / (math.pi * 0.5**2))
