"""Spectra of known circuits with the instrument's noise, written out independently of
`acq.analysis.eis_fit` so that the fit is tested against its own algebra's truth."""

from __future__ import annotations

import numpy as np

from conventions.impedance import sweep_frequencies_Hz

#: 1 MHz–0.1 Hz at 10 points a decade, the default sweep, high frequency first.
FREQUENCIES_HZ = sweep_frequencies_Hz(1e6, 0.1, 10)
#: Proportional noise on each of Z′ and Z″, relative to |Z| (as `measured_spectrum`).
NOISE = 0.005


def arc(frequency_Hz: np.ndarray, r_ohm: float, tau_s: float, n: float) -> np.ndarray:
    """R ‖ CPE with characteristic time τ = (R·Q)^(1/n), Ω."""
    return r_ohm / (1.0 + (2j * np.pi * frequency_Hz * tau_s) ** n)


def noisy(z: np.ndarray, seed: int, noise: float = NOISE) -> np.ndarray:
    """``z`` with Gaussian noise of ``noise`` × |Z| on each of Z′ and Z″."""
    rng = np.random.default_rng(seed)
    scatter = rng.standard_normal(z.shape) + 1j * rng.standard_normal(z.shape)
    return z + noise * np.abs(z) * scatter


def inductive_cell(frequency_Hz: np.ndarray = FREQUENCIES_HZ) -> tuple[np.ndarray, dict]:
    """L + R0 + two arcs + Warburg, the inductive tail a cell holder's leads give (Z″ > 0
    above ≈ 100 kHz); returns Z (Ω) and the truth by `eis_fit` parameter name."""
    truth = {
        "L_H": 5e-6,
        "R0_ohm": 15.0,
        "R_b_ohm": 100.0,
        "n_b": 0.9,
        "R_ct_ohm": 500.0,
        "n_ct": 0.85,
        "sigma_W_ohm_s05": 100.0,
    }
    taus = {"b": 1.6e-6, "ct": 1.6e-2}
    for name, tau in taus.items():
        truth[f"Q_{name}"] = tau ** truth[f"n_{name}"] / truth[f"R_{name}_ohm"]
    omega = 2 * np.pi * frequency_Hz
    z = (
        1j * omega * truth["L_H"]
        + truth["R0_ohm"]
        + sum(arc(frequency_Hz, truth[f"R_{a}_ohm"], taus[a], truth[f"n_{a}"]) for a in taus)
        + truth["sigma_W_ohm_s05"] * np.sqrt(2.0) / np.sqrt(1j * omega)
    )
    return z, truth


def drifting(z: np.ndarray, frequency_Hz: np.ndarray, change: float) -> np.ndarray:
    """``z`` times 1 + ``change``·t/T along the sweep (high frequency first), t the time
    spent so far, each point taking a time ∝ 1/f: a cell that changes while measured."""
    elapsed = np.cumsum(1.0 / frequency_Hz)
    return z * (1.0 + change * elapsed / elapsed[-1])


def arcs_spectrum(taus_s: tuple[float, ...], resistances_ohm: tuple[float, ...]) -> np.ndarray:
    """10 Ω + R‖CPE arcs (n = 0.9) at ``taus_s`` on `FREQUENCIES_HZ`, Ω."""
    return 10.0 + sum(
        arc(FREQUENCIES_HZ, r, tau, 0.9) for r, tau in zip(resistances_ohm, taus_s, strict=True)
    )
