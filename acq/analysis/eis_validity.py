"""Whether an impedance spectrum is worth fitting, and how many arcs it holds.

Two linear least-squares problems on one spectrum, quick enough for every spectrum as it
arrives (`benchmarks/eis_validity.py` times them):

- the linear Kramers–Kronig test (Schönleber et al., Electrochim. Acta 131 (2014) 20,
  doi:10.1016/j.electacta.2014.01.034): R0 + M RC elements with fixed, log-spaced time
  constants from 1/ω_max to 1/ω_min + a series L (and C), fitted linearly to Z/|Z|, M raised
  until µ = 1 − Σ|R_k<0| / Σ|R_k≥0| falls to `KK_MU` (then the RC series stops fitting
  the spectrum and starts fitting its noise). Any causal, linear, stationary system is such a
  series, so residuals well above the noise say the cell changed during the sweep (drift,
  a changing contact under pressure) and no circuit's parameters mean anything. The
  relative residuals agree with impedance.py's ``linKK`` (``fit_type='complex'``,
  same ``add_cap``) to 1e-6 (tests/unit/analysis/test_eis_validity.py);
- a distribution of relaxation times γ(τ): Z = R∞ + jωL + ∫ γ(ln τ)/(1 + jωτ) d ln τ on a
  log-τ grid, Tikhonov-regularised (first differences of γ) and non-negative
  (`scipy.optimize.nnls` on the augmented system); its peaks are the arcs the spectrum
  resolves, whatever circuit is fitted.

Written here with numpy and scipy rather than called from impedance.py (installed for its
instrument-file readers, `acq.importing`) or pyimpspec: impedance.py's ``linKK`` builds its
model as Python source and evaluates it, some 14 times slower on these spectra
(`benchmarks/eis_validity.py`) and broken by numpy 2's number printing; pyimpspec would be
another fitting stack; and both problems are a few lines of linear algebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, signal

#: µ at which the number of RC elements stops growing (Schönleber et al.; impedance.py's c).
KK_MU = 0.85
#: Most RC elements the KK test uses.
KK_MAX_ELEMENTS = 50
#: Largest relative KK residual (|Z − Z_KK| / |Z| in either part) of a valid spectrum: some
#: five standard deviations of the instrument's 0.5 % noise (`conventions.impedance`).
KK_MAX_RESIDUAL = 0.025
#: DRT grid: points a decade of τ, and decades added beyond 1/ω at either end of the window.
DRT_POINTS_PER_DECADE = 10
DRT_MARGIN_DECADES = 1.0
#: Tikhonov weight of γ's first differences, for Z and γ in units of max |Z|.
DRT_LAMBDA = 1.0
#: A DRT peak counts as an arc if its prominence exceeds this fraction of γ's maximum.
DRT_PEAK_PROMINENCE = 0.05


@dataclass(frozen=True)
class KKTest:
    """The linear Kramers–Kronig test of one spectrum.

    Attributes
    ----------
    elements
        Number of RC elements M chosen by the µ criterion.
    mu
        µ at that M.
    residual_real, residual_imag
        (Z − Z_KK)/|Z| per point, real and imaginary parts (relative).
    residual_max
        Largest of their absolute values (relative).
    valid
        ``residual_max`` ≤ `KK_MAX_RESIDUAL`.
    """

    elements: int
    mu: float
    residual_real: np.ndarray
    residual_imag: np.ndarray
    residual_max: float
    valid: bool


@dataclass(frozen=True)
class DRT:
    """A distribution of relaxation times.

    Attributes
    ----------
    tau_s
        The log-spaced grid of τ, s.
    gamma_ohm
        γ(τ), Ω per unit of ln τ (non-negative).
    r_inf_ohm, inductance_H
        The series resistance and inductance fitted with it.
    peak_tau_s
        τ of the peaks counted as arcs (prominence above `DRT_PEAK_PROMINENCE` of the
        maximum), shortest first, s.
    """

    tau_s: np.ndarray
    gamma_ohm: np.ndarray
    r_inf_ohm: float
    inductance_H: float
    peak_tau_s: tuple[float, ...]

    @property
    def peaks(self) -> int:
        """Number of arcs the distribution resolves."""
        return len(self.peak_tau_s)


def _spectrum(
    frequency_Hz: ArrayLike, z_real_ohm: ArrayLike, z_imag_ohm: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """(ω in rad/s, complex Z in Ω) as arrays."""
    omega = 2 * np.pi * np.asarray(frequency_Hz, dtype=float)
    return omega, np.asarray(z_real_ohm, dtype=float) + 1j * np.asarray(z_imag_ohm, dtype=float)


def _rc_columns(omega: np.ndarray, tau_s: np.ndarray) -> np.ndarray:
    """1/(1 + jωτ) for every ω (rows) and τ (columns)."""
    return 1.0 / (1.0 + 1j * omega[:, None] * tau_s[None, :])


def _stacked(columns: np.ndarray) -> np.ndarray:
    """Real parts over imaginary parts: a complex design matrix as a real one."""
    return np.concatenate([columns.real, columns.imag])


def kk_test(
    frequency_Hz: ArrayLike,
    z_real_ohm: ArrayLike,
    z_imag_ohm: ArrayLike,
    capacitance: bool | None = None,
) -> KKTest:
    """The linear Kramers–Kronig test (see the module docstring).

    Parameters
    ----------
    frequency_Hz, z_real_ohm, z_imag_ohm
        The spectrum, Hz and Ω (Z″ < 0 for capacitive arcs).
    capacitance
        Whether the RC series has a series capacitance (impedance.py's ``add_cap``). It is
        needed for a diffusion or blocking tail, and without a tail it upsets µ (on two
        arcs and R0, µ reaches `KK_MU` at 5 elements with residuals of 29 %); None (the
        default) tries both and keeps the smaller largest residual.
    """
    omega, z = _spectrum(frequency_Hz, z_real_ohm, z_imag_ohm)
    if capacitance is None:
        tests = (_kk_fit(omega, z, with_capacitance) for with_capacitance in (True, False))
        return min(tests, key=lambda test: test.residual_max)
    return _kk_fit(omega, z, capacitance)


def _kk_fit(omega: np.ndarray, z: np.ndarray, capacitance: bool) -> KKTest:
    """The KK test at ω (rad/s) of Z (Ω), with or without the series capacitance."""
    weight = np.abs(z)
    target = np.concatenate([z.real, z.imag]) / np.concatenate([weight, weight])
    # R0, the RC elements, a series capacitance (coefficient 1/C) and inductance.
    tail = [-1j / omega, 1j * omega] if capacitance else [1j * omega]
    series = np.stack([np.ones_like(omega), *tail], axis=1)
    tau_min, tau_max = 1.0 / omega.max(), 1.0 / omega.min()
    for elements in range(1, KK_MAX_ELEMENTS + 1):
        tau_s = np.geomspace(tau_max if elements == 1 else tau_min, tau_max, elements)
        columns = np.concatenate([series[:, :1], _rc_columns(omega, tau_s), series[:, 1:]], 1)
        design = _stacked(columns / weight[:, None])
        coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
        resistances = coefficients[1 : elements + 1]
        mu = 1.0 - np.abs(resistances[resistances < 0]).sum() / resistances[resistances >= 0].sum()
        if mu <= KK_MU:
            break
    residual = (z - columns @ coefficients) / weight
    largest = float(np.abs(np.concatenate([residual.real, residual.imag])).max())
    return KKTest(
        elements, float(mu), residual.real, residual.imag, largest, largest <= KK_MAX_RESIDUAL
    )


def drt(frequency_Hz: ArrayLike, z_real_ohm: ArrayLike, z_imag_ohm: ArrayLike) -> DRT:
    """The distribution of relaxation times of a spectrum (see the module docstring).

    Residuals are weighted by |Z|, as the instrument's noise is; γ, R∞ and L are
    non-negative.

    Parameters
    ----------
    frequency_Hz, z_real_ohm, z_imag_ohm
        The spectrum, Hz and Ω.
    """
    omega, z = _spectrum(frequency_Hz, z_real_ohm, z_imag_ohm)
    low = np.log10(1.0 / omega.max()) - DRT_MARGIN_DECADES
    high = np.log10(1.0 / omega.min()) + DRT_MARGIN_DECADES
    tau_s = np.logspace(low, high, round(float(high - low) * DRT_POINTS_PER_DECADE) + 1)
    step = np.log(tau_s[1] / tau_s[0])  # Δ ln τ of the quadrature
    scale = float(np.abs(z).max())
    weight = np.abs(z) / scale
    # Unknowns in units of max |Z|: R∞, L·ω_max, γ_k (per ln τ).
    columns = np.concatenate(
        [
            np.ones((omega.size, 1)),
            1j * omega[:, None] / omega.max(),
            step * _rc_columns(omega, tau_s),
        ],
        axis=1,
    )
    design = _stacked(columns / weight[:, None])
    target = np.concatenate([z.real, z.imag]) / scale / np.concatenate([weight, weight])
    differences = np.zeros((tau_s.size - 1, columns.shape[1]))
    differences[:, 2:] = np.diff(np.eye(tau_s.size), axis=0)
    augmented = np.concatenate([design, np.sqrt(DRT_LAMBDA) * differences])
    solution = optimize.nnls(augmented, np.concatenate([target, np.zeros(tau_s.size - 1)]))[0]
    gamma = solution[2:] * scale
    peaks = signal.find_peaks(gamma, prominence=DRT_PEAK_PROMINENCE * gamma.max())[0]
    return DRT(
        tau_s,
        gamma,
        float(solution[0] * scale),
        float(solution[1] * scale / omega.max()),
        tuple(float(t) for t in tau_s[peaks]),
    )
