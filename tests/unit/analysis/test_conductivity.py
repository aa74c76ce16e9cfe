"""The apparent conductivity of a pressure point and its uncertainty, against the simulator's
truth over spectra that differ only in their noise."""

from __future__ import annotations

import numpy as np
import pytest

from acq.analysis.pressure_point import PressurePointAnalysis
from conventions.impedance import DEFAULT_CIRCUIT, sweep_frequencies_Hz
from simulated_devices.physics.impedance import circuit_at, measured_spectrum
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters

#: The instrument's relative noise on |Z| the spectra are drawn with, and their frequencies
#: (`plans.pressure_series`' 10 a decade; at 5 a decade and 100 MPa one spectrum in 24 was
#: fitted with part of R_gb in R_ct, an error of model selection no covariance can know).
NOISE = 0.005
FREQUENCIES_HZ = sweep_frequencies_Hz(1e6, 0.1, 10)
PARAMS = CellParameters()
SEEDS = range(20)


def start_document(params: CellParameters, pressure_MPa: float) -> dict:
    """What the station's RunEngine records of the cell (``start['cell']``)."""
    geometry = params.geometry
    return {
        "pressure_MPa": pressure_MPa,
        "cell": {
            "area_cm2": geometry.area_cm2,
            "electrode_mass_mg": geometry.electrode_mass_mg,
            "active_mass_fraction": geometry.active_mass_fraction,
            "electrolyte_mass_mg": geometry.electrolyte_mass_mg,
            "electrolyte_solid_density_g_cm3": geometry.electrolyte_solid_density_g_cm3,
        },
    }


@pytest.mark.slow
@pytest.mark.parametrize("pressure_MPa", [6.0, 25.0, 100.0])
def test_the_conductivitys_uncertainty_is_its_scatter_over_noise_and_covers_the_truth(
    pressure_MPa,
):
    truth = circuit_at(microstructure_at(pressure_MPa, PARAMS), PARAMS)
    sigmas, uncertainties = [], []
    for seed in SEEDS:
        point = PressurePointAnalysis.from_start(
            start_document(PARAMS, pressure_MPa), DEFAULT_CIRCUIT
        )
        z = measured_spectrum(truth, FREQUENCIES_HZ, NOISE, np.random.default_rng(seed))
        point.add_spectrum(FREQUENCIES_HZ, z.real, z.imag)
        summary = point.summary()
        sigmas.append(summary["conductivity_S_per_cm"])
        uncertainties.append(summary["conductivity_uncertainty_S_per_cm"])
    # The analysis's definition with the true resistances: the separator dense (there is no
    # CT here), the apparent resistance R0 + R_b + R_gb.
    true_ohm = truth.R0_ohm + truth.R_b_ohm + truth.R_gb_ohm
    true_sigma = point.geometry.separator_thickness_cm(0.0) / (true_ohm * point.geometry.area_cm2)
    sigmas, uncertainties = np.array(sigmas), np.array(uncertainties)
    scatter = float(np.std(sigmas, ddof=1))
    assert 0.5 < float(np.median(uncertainties)) / scatter < 2.0
    assert np.all(np.abs(sigmas - true_sigma) < 3 * uncertainties)
