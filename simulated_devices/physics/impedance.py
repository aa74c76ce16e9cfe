"""Microstructure → equivalent circuit → impedance spectrum.

The circuit is R0 + (R_b‖CPE_b) + (R_gb‖CPE_gb) + (R_ct‖CPE_ct) + W (semi-infinite Warburg);
R_ct‖CPE_ct is the cell's electrode interfaces (`interface_resistance_ohm`), the same
resistance the galvanostatic overpotential sees.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .microstructure import Microstructure
from .parameters import CellParameters

BOLTZMANN_eV_K = 8.617333262e-5


@dataclass(frozen=True)
class EquivalentCircuit:
    """Element values of the cell's equivalent circuit (SI units, Ω, F·s^(n−1))."""

    R0_ohm: float
    R_b_ohm: float
    Q_b: float
    n_b: float
    R_gb_ohm: float
    Q_gb: float
    n_gb: float
    R_ct_ohm: float
    Q_ct: float
    n_ct: float
    sigma_W_ohm_s05: float

    def impedance(self, frequency_Hz: np.ndarray) -> np.ndarray:
        """Complex impedance Z = Z′ + jZ″ at the given frequencies, Ω."""
        jw = 2j * np.pi * np.asarray(frequency_Hz, dtype=float)
        z = np.full(jw.shape, self.R0_ohm, dtype=complex)
        for r, q, n in (
            (self.R_b_ohm, self.Q_b, self.n_b),
            (self.R_gb_ohm, self.Q_gb, self.n_gb),
            (self.R_ct_ohm, self.Q_ct, self.n_ct),
        ):
            z += r / (1.0 + r * q * jw**n)
        z += self.sigma_W_ohm_s05 * np.sqrt(2.0) / np.sqrt(jw)
        return z

    def as_dict(self) -> dict[str, float]:
        """Element values by name."""
        return asdict(self)


def arrhenius_factor(
    activation_energy_eV: float, temperature_K: float, reference_temperature_K: float
) -> float:
    """Resistance ratio R(T)/R(T_ref) of a thermally activated process."""
    return math.exp(
        activation_energy_eV
        / BOLTZMANN_eV_K
        * (1.0 / temperature_K - 1.0 / reference_temperature_K)
    )


def interface_resistance_ohm(
    pressure_MPa: float, params: CellParameters, temperature_K: float
) -> float:
    """Resistance of the cell's electrode interfaces in series at a stack pressure, Ω.

    Parameters
    ----------
    pressure_MPa
        Stack pressure, MPa.
    params
        The cell (its `InterfaceParameters`, area and cell type).
    temperature_K
        Cell temperature, K.
    """
    interface = params.interface
    return (
        params.interfaces
        * interface.asr_ohm_cm2
        / params.geometry.area_cm2
        * (pressure_MPa / interface.reference_pressure_MPa) ** -interface.pressure_exponent
        * arrhenius_factor(
            interface.activation_energy_eV, temperature_K, params.circuit.reference_temperature_K
        )
    )


def circuit_at(
    micro: Microstructure, params: CellParameters, temperature_K: float | None = None
) -> EquivalentCircuit:
    """Equivalent circuit of the cell in a given microstructure and temperature.

    Parameters
    ----------
    micro
        Microstructure at the applied stack pressure.
    params
        Cell parameters (geometry and circuit laws).
    temperature_K
        Cell temperature, K; defaults to the geometry's temperature.
    """
    c = params.circuit
    temperature = params.geometry.temperature_K if temperature_K is None else temperature_K
    area = params.geometry.area_cm2
    length_cm = 1e-4 * micro.electrolyte_thickness_um
    bulk_sigma = (
        c.bulk_conductivity_S_cm
        * (1.0 - micro.porosity_electrolyte) ** 1.5
        / arrhenius_factor(c.bulk_activation_energy_eV, temperature, c.reference_temperature_K)
    )
    # Grain-to-grain constriction goes through the unresolved contact.
    contact_scaling = (micro.pressure_MPa / c.reference_pressure_MPa) ** -c.pressure_exponent
    r_gb = (
        c.grain_boundary_asr_ohm_cm2
        / area
        * contact_scaling
        * arrhenius_factor(
            c.grain_boundary_activation_energy_eV, temperature, c.reference_temperature_K
        )
    )
    interface = params.interface
    return EquivalentCircuit(
        R0_ohm=c.series_resistance_ohm,
        R_b_ohm=length_cm / (bulk_sigma * area),
        Q_b=c.bulk_cpe_Q,
        n_b=c.bulk_cpe_n,
        R_gb_ohm=r_gb,
        Q_gb=c.grain_boundary_cpe_Q,
        n_gb=c.grain_boundary_cpe_n,
        R_ct_ohm=interface_resistance_ohm(micro.pressure_MPa, params, temperature),
        # Interfaces in series: their double layers too.
        Q_ct=interface.cpe_Q * area / micro.asperity_contact / params.interfaces,
        n_ct=interface.cpe_n,
        sigma_W_ohm_s05=c.warburg_sigma_ohm_s05 * contact_scaling,
    )


def measured_spectrum(
    circuit: EquivalentCircuit,
    frequency_Hz: np.ndarray,
    noise_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Impedance as a potentiostat measures it: proportional Gaussian noise on |Z|.

    Parameters
    ----------
    noise_fraction
        Standard deviation of the noise on each of Z′ and Z″, relative to |Z| (0.005 = 0.5 %).
    """
    z = circuit.impedance(frequency_Hz)
    scale = noise_fraction * np.abs(z)
    return z + scale * (rng.standard_normal(z.shape) + 1j * rng.standard_normal(z.shape))
