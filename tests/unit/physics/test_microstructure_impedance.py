"""Pressure → microstructure → impedance: the trends and values of docs/science.md."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conventions.impedance import sweep_frequencies_Hz
from simulated_devices.physics.impedance import circuit_at, measured_spectrum
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters

PRESSURES_MPA = [6.0, 12.0, 25.0, 50.0, 100.0]
PARAMS = CellParameters()


@pytest.fixture(scope="module")
def series():
    return [microstructure_at(p, PARAMS) for p in PRESSURES_MPA]


def test_porosity_falls_and_reaches_the_papers_values(series):
    electrode = [m.porosity_electrode for m in series]
    electrolyte = [m.porosity_electrolyte for m in series]
    assert np.all(np.diff(electrode) < 0) and np.all(np.diff(electrolyte) < 0)
    assert electrode[-1] == pytest.approx(0.23, abs=0.01)
    assert electrolyte[-1] == pytest.approx(0.05, abs=0.005)
    # Same porosity in both layers up to 12 MPa; the electrode levels off at high pressure.
    assert electrode[0] == electrolyte[0] and electrode[1] == electrolyte[1]
    assert electrode[-2] - electrode[-1] < 0.2 * (electrode[0] - electrode[-1])


def test_volume_fractions_two_stages(series):
    active = [m.active_fraction_electrode for m in series]
    electrolyte = [m.electrolyte_fraction_electrode for m in series]
    assert active[1] > active[0] and electrolyte[1] < electrolyte[0]  # stage 1
    assert active[2:] == [active[1]] * 3  # stage 2: skeleton fixed …
    assert np.all(np.diff(electrolyte[1:]) > 0)  # … voids fill with electrolyte
    for m in series:
        fractions = (
            m.porosity_electrode,
            m.active_fraction_electrode,
            m.electrolyte_fraction_electrode,
        )
        assert sum(fractions) == pytest.approx(1.0)


def test_contact_rate_rises_ten_percent_between_12_and_50_MPa_then_flat(series):
    rate = {p: m.contact_rate for p, m in zip(PRESSURES_MPA, series, strict=True)}
    assert rate[6.0] == rate[12.0]
    assert rate[50.0] / rate[12.0] == pytest.approx(1.10, abs=0.01)
    assert rate[100.0] == rate[50.0]
    assert all(m.contact_anisotropy > 1 for m in series)


def test_tortuosity_falls_then_rises_at_100_MPa(series):
    mode = [m.tortuosity_mode for m in series]
    assert mode[0] > mode[1] > mode[2] > mode[3] < mode[4]


def test_charge_transfer_resistance_inversely_proportional_to_pressure(series):
    r_ct = [circuit_at(m, PARAMS).R_ct_ohm for m in series]
    for p, r in zip(PRESSURES_MPA, r_ct, strict=True):
        assert r * p == pytest.approx(r_ct[0] * PRESSURES_MPA[0], rel=1e-9)
    assert r_ct[0] / r_ct[-1] > 10


def test_apparent_conductivity_rises_nearly_linearly(series):
    area = PARAMS.geometry.area_cm2
    sigma = []
    for m in series:
        c = circuit_at(m, PARAMS)
        sigma.append(1e-4 * m.electrolyte_thickness_um / ((c.R_b_ohm + c.R_gb_ohm) * area))
    slope, intercept = np.polyfit(PRESSURES_MPA, sigma, 1)
    fitted = slope * np.array(PRESSURES_MPA) + intercept
    r_squared = 1 - np.sum((sigma - fitted) ** 2) / np.sum((sigma - np.mean(sigma)) ** 2)
    assert slope > 0 and r_squared > 0.95


def test_conductivity_follows_arrhenius_with_the_bulk_activation_energy():
    m = microstructure_at(50.0, PARAMS)
    r_298 = circuit_at(m, PARAMS, 298.15).R_b_ohm
    r_348 = circuit_at(m, PARAMS, 348.15).R_b_ohm
    activation_eV = math.log(r_298 / r_348) * 8.617333262e-5 / (1 / 298.15 - 1 / 348.15)
    assert activation_eV == pytest.approx(PARAMS.circuit.bulk_activation_energy_eV, rel=1e-6)


def test_spectrum_shows_arcs_and_warburg_tail():
    circuit = circuit_at(microstructure_at(25.0, PARAMS), PARAMS)
    f = sweep_frequencies_Hz(1e6, 0.1, 10)
    assert f.size == 71 and f[0] == 1e6 and f[-1] == pytest.approx(0.1)
    z = circuit.impedance(f)
    # High-frequency end just past R0 + R_b (the bulk arc lies above 1 MHz, the
    # grain-boundary arc has begun), low-frequency end beyond the sum of the arcs because of
    # the Warburg tail.
    series = circuit.R0_ohm + circuit.R_b_ohm
    assert series < z.real[0] < series + 0.1 * circuit.R_gb_ohm
    assert z.real[-1] > circuit.R0_ohm + circuit.R_b_ohm + circuit.R_gb_ohm + circuit.R_ct_ohm
    assert np.all(-z.imag > 0)


def test_measured_spectrum_noise_is_seeded_and_proportional():
    circuit = circuit_at(microstructure_at(25.0, PARAMS), PARAMS)
    f = sweep_frequencies_Hz(1e6, 0.1, 10)
    a = measured_spectrum(circuit, f, 0.005, np.random.default_rng(1))
    b = measured_spectrum(circuit, f, 0.005, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    relative = np.abs(a - circuit.impedance(f)) / np.abs(circuit.impedance(f))
    assert 0.002 < np.median(relative) < 0.012


def test_another_cell_is_another_parameter_set():
    garnet = CellParameters.from_mapping(
        {
            "geometry": {
                "diameter_mm": 10.0,
                "electrolyte_mass_mg": 400.0,
                "electrolyte_solid_density_g_cm3": 5.1,
            },
            "circuit": {
                "bulk_conductivity_S_cm": 3.5e-4,
                "bulk_activation_energy_eV": 0.40,
            },
            "interface": {"asr_ohm_cm2": 50.0},
            "electrochemistry": {"cell_type": "symmetric"},
        }
    )
    circuit = circuit_at(microstructure_at(20.0, garnet), garnet)
    assert garnet.electrochemistry.cell_type == "symmetric"
    assert (
        circuit.R_b_ohm > 0
        and circuit.R_ct_ohm < circuit_at(microstructure_at(5.0, garnet), garnet).R_ct_ohm
    )


def test_a_sintered_pellet_keeps_its_thickness_and_density_at_every_pressure():
    """A garnet pellet of 500 µm at 96 % density: no compaction law, σ·(1−ε)^1.5 over 500 µm."""
    pellet = CellParameters.from_mapping(
        {
            "geometry": {
                "diameter_mm": 10.0,
                "electrode_mass_mg": 0.0,
                "electrolyte_thickness_um": 500.0,
                "electrolyte_relative_density": 0.96,
            },
            "circuit": {"bulk_conductivity_S_cm": 4.0e-4},
            "electrochemistry": {"cell_type": "symmetric"},
        }
    )
    for pressure in (1.0, 10.0, 100.0):
        micro = microstructure_at(pressure, pellet)
        assert micro.electrolyte_thickness_um == 500.0
        assert micro.porosity_electrolyte == pytest.approx(0.04)
    circuit = circuit_at(microstructure_at(5.0, pellet), pellet)
    area = pellet.geometry.area_cm2
    assert circuit.R_b_ohm == pytest.approx(0.05 / (4.0e-4 * 0.96**1.5 * area))


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"geometry": {"electrolyte_thickness_um": 500.0}}, "needs both"),
        ({"geometry": {"electrode_mass_mg": 0.0}}, "a full cell needs a cathode"),
        ({"nonsense": {}}, "unknown simulation parameter group"),
        ({"circuit": {"R_typo": 1.0}}, "unknown parameter simulation.parameters.circuit.R_typo"),
        ({"circuit": {"bulk_conductivity_S_cm": "fast"}}, "must be float"),
        ({"imaging": {"diameter_voxels": 64.5}}, "must be int"),
    ],
)
def test_bad_parameters_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        CellParameters.from_mapping(bad)


@pytest.mark.parametrize("pressure", [0.0, -5.0, float("nan")])
def test_microstructure_refuses_non_positive_pressure(pressure):
    with pytest.raises(ValueError, match="positive"):
        microstructure_at(pressure, PARAMS)
