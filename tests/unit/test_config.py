"""Station config: the default loads; bad configs fail with errors that name the key."""

from __future__ import annotations

import math
import re

import pytest

from acq.cli import main
from acq.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from acq.services import simulation_parameters


def test_default_config_describes_the_papers_cell():
    config = load_config()
    assert config.cell.diameter_mm == 1.0
    assert config.cell.area_cm2 == pytest.approx(0.007854, rel=1e-3)
    assert config.press.rating_MPa < config.press.load_cell_range_N / 0.785
    parameters = simulation_parameters(config)
    assert parameters.geometry.electrolyte_mass_mg == config.cell.electrolyte_mass_mg
    assert parameters.imaging.diameter_voxels == 256
    metadata = config.metadata()
    assert metadata["sample"] == config.sample.id and metadata["cell"]["area_cm2"] > 0


def _raw(**changes):
    raw = load_config().model_dump(mode="json")
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        raw[section][key] = value
    return raw


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"press__rating_MPa": -5}, "press.rating_MPa"),
        ({"press__rating_typo": 5}, "press.rating_typo"),
        ({"station__time_scale": 0}, "station.time_scale"),
        ({"cell__cell_type": "pouch"}, "cell.cell_type"),
        ({"sample__id": ""}, "sample.id"),
        # what an operator could type by mistake, each refused by name (issue: bad input)
        ({"station__time_scale": math.inf}, "station.time_scale"),
        ({"station__time_scale": 1e12}, "station.time_scale"),
        ({"press__tolerance_MPa": math.inf}, "press.tolerance_MPa"),
        ({"press__tolerance_MPa": math.nan}, "press.tolerance_MPa"),
        ({"press__dwell_s": math.inf}, "press.dwell_s"),
        ({"press__rating_MPa": math.inf}, "press.rating_MPa"),
        ({"press__load_cell_range_N": math.inf}, "press.load_cell_range_N"),
        ({"potentiostat__compliance_current_A": math.inf}, "potentiostat.compliance_current_A"),
        ({"potentiostat__compliance_voltage_V": -1}, "potentiostat.compliance_voltage_V"),
        ({"press__tolerance_MPa": 500.0}, "press"),
        ({"press__dwell_s": 500.0}, "press"),
        ({"station__prefix": "SIM :"}, "station.prefix"),
        ({"station__prefix": "SIM:\n"}, "station.prefix"),
        ({"station__prefix": ""}, "station.prefix"),
        ({"press__prefix": "press: x"}, "press.prefix"),
        ({"tomography__frames_dir": "/etc"}, "tomography.frames_dir"),
        ({"tomography__frames_dir": "../../../../etc/cron.d"}, "tomography.frames_dir"),
        ({"tomography__sample_speed_mm_s": 0.0}, "tomography.sample_speed_mm_s"),
        ({"tomography__sample_speed_mm_s": 1e4}, "tomography.sample_speed_mm_s"),
        ({"tomography__rotation_speed_deg_s": -90.0}, "tomography.rotation_speed_deg_s"),
        ({"tomography__rotation_speed_deg_s": math.nan}, "tomography.rotation_speed_deg_s"),
        ({"tiled__uri": "not a url"}, "tiled.uri"),
        ({"analysis__zmq_in_port": 8010}, "tiled.port"),
        ({"analysis__zmq_out_port": 0}, "analysis.zmq_out_port"),
        ({"station__ca_server_port": 0}, "station.ca_server_port"),
        ({"station__ca_repeater_port": 70000}, "station.ca_repeater_port"),
        ({"station__ca_repeater_port": 5064}, "ca_server_port and ca_repeater_port"),
        ({"station__ca_server_port": 8010}, "station.ca_server_port"),
        ({"queue__http_port": 8010}, "queue.http_port"),
        ({"queue__zmq_info_port": 60615}, "queue.zmq_control_port"),
        ({"queue__zmq_control_port": 0}, "queue.zmq_control_port"),
        ({"analysis__broker_url": "amqp://127.0.0.1:5672"}, "analysis.broker_url"),
        ({"analysis__broker_url": "nats://127.0.0.1"}, "analysis.broker_url"),
        ({"analysis__broker_ack_wait_s": math.nan}, "analysis.broker_ack_wait_s"),
        ({"analysis__broker_ack_wait_s": 0}, "analysis.broker_ack_wait_s"),
        ({"analysis__broker_runs_at_once": 0}, "analysis.broker_runs_at_once"),
    ],
)
def test_bad_values_are_named(changes, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_config(_raw(**changes))


def test_missing_section_is_named():
    raw = _raw()
    del raw["press"]
    with pytest.raises(ConfigError, match="press"):
        parse_config(raw)


def test_bad_simulation_parameter_is_named_before_anything_starts(tmp_path, capsys):
    """The physics checks a ``[simulation]`` table (loading a config needs no simulator); the
    command line does so first, with one line, for any verb."""
    raw = _raw()
    raw["simulation"]["parameters"] = {"circuit": {"no_such_thing": 1.0}}
    dotted = "simulation.parameters.circuit.no_such_thing"
    with pytest.raises(ConfigError, match=re.escape(dotted)):
        simulation_parameters(parse_config(raw))
    path = tmp_path / "station.toml"
    path.write_text(
        DEFAULT_CONFIG_PATH.read_text()
        + "\n[simulation.parameters.circuit]\nno_such_thing = 1.0\n"
    )
    assert main(["run", "eis_sweep", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and dotted in error


@pytest.mark.parametrize(
    "group, key, value, named",
    [
        ("circuit", "bulk_conductivity_S_cm", -1e-3, "must be in [1e-12, 1000] S/cm"),
        ("circuit", "bulk_conductivity_S_cm", 0.0, "must be in [1e-12, 1000] S/cm"),
        ("interface", "asr_ohm_cm2", 0.0, "must be positive (in Ω·cm²)"),
        ("compaction", "electrolyte_porosity_at_reference", 0.0, "must be a porosity, in (0, 1)"),
        ("interface", "cpe_n", 1.2, "must be in (0, 1]"),
        ("electrochemistry", "coulombic_efficiency", 1.2, "must be in (0, 1]"),
        ("electrochemistry", "lithium_loss_per_cycle", 1.5, "must be a fraction, in [0, 1]"),
        ("electrochemistry", "n_to_p_ratio", -1.0, "must be positive"),
        ("electrochemistry", "accessible_fraction_saturated", 1.3, "must be in [0.01, 1]"),
        ("circuit", "series_resistance_ohm", -5.0, "cannot be negative (in Ω)"),
        ("imaging", "diameter_voxels", 0, "must be positive"),
        ("circuit", "bulk_conductivity_S_cm", math.nan, "must be a finite number S/cm"),
    ],
)
def test_an_unphysical_simulation_parameter_is_named_with_its_unit(group, key, value, named):
    raw = _raw()
    raw["simulation"]["parameters"] = {group: {key: value}}
    with pytest.raises(ConfigError) as refused:
        simulation_parameters(parse_config(raw))
    assert f"simulation.parameters.{group}.{key} = {value!r}: {named}" in str(refused.value)


def test_unlimited_lithium_and_a_zero_series_resistance_are_physical():
    raw = _raw()
    raw["simulation"]["parameters"] = {
        "electrochemistry": {"n_to_p_ratio": "inf"},
        "circuit": {"series_resistance_ohm": 0.0},
    }
    parameters = simulation_parameters(parse_config(raw))
    assert math.isinf(parameters.electrochemistry.n_to_p_ratio)


@pytest.mark.parametrize(
    "group, key, value",
    [
        ("geometry", "diameter_mm", 12.0),
        ("geometry", "electrode_mass_mg", 3.0),
        ("electrochemistry", "cell_type", "symmetric"),
    ],
)
def test_a_simulation_parameter_contradicting_the_cell_is_refused_by_name(group, key, value):
    raw = _raw()
    raw["simulation"]["parameters"] = {group: {key: value}}
    with pytest.raises(ConfigError, match=re.escape(f"simulation.parameters.{group}.{key} = ")):
        simulation_parameters(parse_config(raw))
    raw["simulation"]["parameters"] = {group: {key: raw["cell"][key]}}  # agreeing: taken
    simulation_parameters(parse_config(raw))


def test_a_check_across_sections_is_reported_without_a_made_up_location():
    with pytest.raises(ConfigError) as refused:
        parse_config(_raw(analysis__zmq_in_port=8010))
    assert "(top)" not in str(refused.value)
    assert "tiled.port" in str(refused.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[station\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def _cell_raw(cell: dict) -> dict:
    raw = load_config().model_dump(mode="json")
    raw["cell"] = cell
    return raw


#: A Li | LLZO | Li pellet as a lab describes it: no cathode, a sintered separator.
GARNET_CELL = {
    "diameter_mm": 10.0,
    "electrolyte_thickness_um": 500.0,
    "electrolyte_relative_density": 0.96,
    "electrolyte_solid_density_g_cm3": 5.1,
    "active_material": "Li",
    "electrolyte": "LLZO",
    "anode": "Li",
    "cell_type": "symmetric",
}


def test_a_symmetric_sintered_pellet_needs_no_cathode_and_no_compaction_law():
    config = parse_config(_cell_raw(GARNET_CELL))
    assert config.cell.nominal_capacity_mAh == 0.0 and config.cell.active_mass_g == 0.0
    # 500 µm × 0.785 cm² × 5.1 g/cm³ × 0.96
    assert config.cell.separator_mass_mg == pytest.approx(192.2, rel=1e-3)
    parameters = simulation_parameters(config)
    assert parameters.geometry.sintered and parameters.geometry.electrode_mass_mg == 0.0
    assert parameters.geometry.electrolyte_thickness_um == 500.0
    assert config.metadata()["cell"]["electrolyte_thickness_um"] == 500.0


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"electrode_mass_mg": 1.0}, "a symmetric cell has no cathode: leave out cell.electrode"),
        ({"electrolyte_relative_density": None}, "needs both cell.electrolyte_thickness_um"),
        ({"electrolyte_mass_mg": 190.0}, "describe it twice"),
        ({"cell_type": "full"}, "a full cell needs its cathode: cell.electrode_mass_mg"),
        ({"electrolyte_relative_density": 1.2}, "cell.electrolyte_relative_density"),
        (
            {"electrolyte_thickness_um": None, "electrolyte_relative_density": None},
            "cell.electrolyte_mass_mg (a pressed layer)",
        ),
    ],
)
def test_a_cell_described_twice_or_not_at_all_is_refused_by_key(changes, named):
    cell = {key: value for key, value in {**GARNET_CELL, **changes}.items() if value is not None}
    with pytest.raises(ConfigError, match=re.escape(named)):
        parse_config(_cell_raw(cell))


def test_the_demo_refuses_a_symmetric_cell_before_anything_starts():
    from acq.demo.run import run_demo

    garnet = load_config(DEFAULT_CONFIG_PATH.with_name("garnet_symmetric.toml"))
    with pytest.raises(ValueError, match="this config's cell is symmetric"):
        run_demo(garnet)  # raised before any service starts (none is running here)
