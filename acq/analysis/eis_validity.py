"""Whether an impedance spectrum is worth fitting, and how many arcs it holds.

Two linear least-squares problems on one spectrum, quick enough for every spectrum as it
arrives (`benchmarks/eis_validity.py` times them):

- the linear Kramers–Kronig test (Schönleber et al., Electrochim. Acta 131 (2014) 20,
  doi:10.1016/j.electacta.2014.01.034): R0 + M RC elements with fixed, log-spaced time
  constants from 1/ω_max to 1/ω_min + a series L (and C), fitted linearly to Z/|Z|, M the
  fewest elements from which on µ = 1 − Σ|R_k<0| / Σ|R_k≥0| stays at or below `KK_MU`
  (there the RC series stops fitting the spectrum and starts fitting its noise). Schönleber
  et al. stop at the first M where µ falls to `KK_MU`, as impedance.py's ``linKK`` does; µ
  fluctuates at small M, and on the garnet cells that stops at 6 elements with residuals of
  24 % (`acq/config/stations/garnet_pristine.toml`), so M is counted down from
  `KK_MAX_ELEMENTS` instead, as pyimpspec does (Yrjänä and Bobacka, Electrochim. Acta 504
  (2024) 144951, doi:10.1016/j.electacta.2024.144951). Any causal, linear, stationary
  system is such a series, so residuals that are not the noise say the cell changed during
  the sweep (drift, a changing contact under pressure) and no circuit's parameters mean
  anything. Two signs of it (`KKTest.valid`): a residual far above the noise, and residuals
  that share a sign at the low-frequency end, where a sweep spends nearly all its time (each
  point lasts some periods, ∝ 1/f) and so where a drifting cell changes. At a given M the
  relative residuals agree with impedance.py's ``linKK`` (``fit_type='complex'``, same
  ``add_cap``) to 1e-6 (tests/unit/analysis/test_eis_validity.py);
- a distribution of relaxation times γ(τ): Z = R∞ + jωL + ∫ γ(ln τ)/(1 + jωτ) d ln τ on a
  log-τ grid, Tikhonov-regularised (first differences of γ) and non-negative
  (`scipy.optimize.nnls` on the augmented system); its peaks are the arcs the spectrum
  resolves, whatever circuit is fitted.

Written here with numpy and scipy rather than called from impedance.py (installed for its
instrument-file readers, `acq.importing`) or pyimpspec: impedance.py's ``linKK`` builds its
model as Python source and evaluates it, broken by numpy 2's number printing, and stops at
the first µ ≤ `KK_MU`; pyimpspec (GPL-3.0, some 165 MB of dependencies) fits Z unweighted
in its complex test, where the instrument's noise is proportional to |Z|, and its default
test takes seconds a spectrum (`benchmarks/eis_validity.py` times both); and both problems
are a few lines of linear algebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, optimize, signal

#: µ at which the number of RC elements stops growing (Schönleber et al.; impedance.py's c).
KK_MU = 0.85
#: Most RC elements the KK test uses.
KK_MAX_ELEMENTS = 50
#: Largest relative KK residual (|Z − Z_KK| / |Z| in either part) of a valid spectrum: some
#: five standard deviations of the instrument's 0.5 % noise (`conventions.impedance`).
KK_MAX_RESIDUAL = 0.025
#: Largest `KKTest.drift` of a valid spectrum, in standard errors. The mean of k white-noise
#: residuals has a standard error σ/√k; the lowest-frequency RC elements of the KK series
#: take up part of any such mean, so on stationary spectra at 0.5 % noise (the default cell
#: at 6–100 MPa, both garnet cells, the test circuits: 1600 spectra) `drift` stays below 2.8
#: (99 % below 2.5), while a cell whose |Z| drifts by 10 % along the sweep gives 3.0 or more
#: (99 % above 3.2). σ is estimated from the residuals (`KKTest.noise`), so the threshold
#: holds at any noise level; tests/unit/analysis/test_eis_validity.py checks both sides.
KK_MAX_DRIFT = 2.9
#: Least σ (relative) `KKTest.drift` divides by: potentiostats' stated accuracy is some
#: 0.1 % of |Z|, so a shared residual smaller than that is not the cell's, and on exact or
#: nearly exact spectra (the instrument files of tests/data) σ estimated from the residuals
#: would go to 0 and make their rounding look like a drift.
KK_NOISE_FLOOR = 1e-3
#: Fewest lowest-frequency points whose mean residual `KKTest.drift` weighs: below this, a
#: single noisy point would dominate the mean.
KK_DRIFT_MIN_POINTS = 5
#: DRT grid: points a decade of τ, and decades added beyond 1/ω at either end of the window.
DRT_POINTS_PER_DECADE = 10
DRT_MARGIN_DECADES = 1.0
#: Tikhonov weight of γ's first differences, for Z and γ in units of max |Z|.
DRT_LAMBDA = 1.0
#: A DRT peak counts as an arc if its prominence exceeds this fraction of γ's maximum.
DRT_PEAK_PROMINENCE = 0.05
#: γ at the grid's longest τ, as a fraction of its maximum, above which the distribution
#: shows a tail the window does not close (a Warburg's): on the simulated cells and the
#: instrument files of tests/data, spectra with a Warburg leave 0.2 or more there, spectra
#: without one 0.01 or less.
DRT_TAIL_FRACTION = 0.1


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
    noise
        The residuals' standard deviation estimated from their differences between
        neighbouring frequencies (relative), which a smooth trend in them does not inflate.
    drift
        Largest |mean| of the residuals (real or imaginary part) over the k lowest
        frequencies, k ≥ `KK_DRIFT_MIN_POINTS`, in units of its standard error
        ``noise``/√k (``noise`` at least `KK_NOISE_FLOOR`): residuals that share a sign
        where the sweep spends its time.
    valid
        ``residual_max`` ≤ `KK_MAX_RESIDUAL` and ``drift`` ≤ `KK_MAX_DRIFT`.
    """

    elements: int
    mu: float
    residual_real: np.ndarray
    residual_imag: np.ndarray
    residual_max: float
    noise: float
    drift: float

    @property
    def valid(self) -> bool:
        """Whether the residuals are the noise (see the attributes)."""
        return self.residual_max <= KK_MAX_RESIDUAL and self.drift <= KK_MAX_DRIFT

    def reason(self) -> str:
        """Why the spectrum is not valid, for a message ("" if it is)."""
        reasons = []
        if self.residual_max > KK_MAX_RESIDUAL:
            reasons.append(f"residual {100 * self.residual_max:.1f} %")
        if self.drift > KK_MAX_DRIFT:
            reasons.append(f"residuals of one sign at low frequency ({self.drift:.1f} σ)")
        return ", ".join(reasons)


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

    @property
    def tail(self) -> bool:
        """Whether γ is still above `DRT_TAIL_FRACTION` of its maximum at the longest τ: a
        diffusion tail that the window does not close."""
        return bool(self.gamma_ohm[-1] > DRT_TAIL_FRACTION * self.gamma_ohm.max())


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
    elements: int | None = None,
) -> KKTest:
    """The linear Kramers–Kronig test (see the module docstring).

    Parameters
    ----------
    frequency_Hz, z_real_ohm, z_imag_ohm
        The spectrum, Hz and Ω (Z″ < 0 for capacitive arcs), in the order measured or
        reversed.
    capacitance
        Whether the RC series has a series capacitance (impedance.py's ``add_cap``). It is
        needed for a diffusion or blocking tail, and without a tail it upsets µ (on two
        arcs and R0, µ reaches `KK_MU` at 5 elements with residuals of 29 %); None (the
        default) tries both and keeps the smaller largest residual.
    elements
        The number of RC elements M; None (the default) chooses it by µ.
    """
    omega, z = _spectrum(frequency_Hz, z_real_ohm, z_imag_ohm)
    if capacitance is None:
        tests = (
            _kk_fit(omega, z, with_capacitance, elements) for with_capacitance in (True, False)
        )
        return min(tests, key=lambda test: test.residual_max)
    return _kk_fit(omega, z, capacitance, elements)


def _kk_fit(omega: np.ndarray, z: np.ndarray, capacitance: bool, elements: int | None) -> KKTest:
    """The KK test at ω (rad/s) of Z (Ω), with or without the series capacitance, with
    ``elements`` RC elements or (None) the fewest from which on µ ≤ `KK_MU`."""
    weight = np.abs(z)
    target = np.concatenate([z.real, z.imag]) / np.concatenate([weight, weight])
    # R0, the RC elements, a series capacitance (coefficient 1/C) and inductance.
    tail = [-1j / omega, 1j * omega] if capacitance else [1j * omega]
    series = np.stack([np.ones_like(omega), *tail], axis=1)
    tau_min, tau_max = 1.0 / omega.max(), 1.0 / omega.min()

    def fit(count: int) -> tuple[float, np.ndarray]:
        """(µ, the fitted Z in Ω) with ``count`` RC elements."""
        tau_s = np.geomspace(tau_max if count == 1 else tau_min, tau_max, count)
        columns = np.concatenate([series[:, :1], _rc_columns(omega, tau_s), series[:, 1:]], 1)
        design = _stacked(columns / weight[:, None])
        # QR with column pivoting (LAPACK gelsy): 3× faster here than numpy's SVD (gelsd),
        # the same µ and M on every spectrum of the tests; a spectrum's KK test makes up
        # to 2 × KK_MAX_ELEMENTS of these fits.
        coefficients = linalg.lstsq(design, target, lapack_driver="gelsy", check_finite=False)[0]
        resistances = coefficients[1 : count + 1]
        positive = resistances[resistances >= 0].sum()
        negative = np.abs(resistances[resistances < 0]).sum()
        return (1.0 - negative / positive if positive > 0 else 0.0), columns @ coefficients

    if elements is not None:
        mu, z_kk = fit(elements)
    else:
        elements = min(KK_MAX_ELEMENTS, omega.size)  # no more time constants than points
        mu, z_kk = fit(elements)
        while elements > 1:
            fewer = fit(elements - 1)
            if fewer[0] > KK_MU:
                break
            elements, (mu, z_kk) = elements - 1, fewer
    residual = (z - z_kk) / weight
    largest = float(np.abs(np.concatenate([residual.real, residual.imag])).max())
    noise, drift = _low_frequency_drift(omega, residual)
    return KKTest(elements, float(mu), residual.real, residual.imag, largest, noise, drift)


def _low_frequency_drift(omega: np.ndarray, residual: np.ndarray) -> tuple[float, float]:
    """(`KKTest.noise`, `KKTest.drift`) of the relative residuals at ω (rad/s)."""
    parts = np.stack([residual.real, residual.imag])[:, np.argsort(omega)]  # low ω first
    # Var(r_i+1 − r_i) = 2σ² for independent residuals; a smooth trend hardly adds to it.
    noise = float(np.sqrt(np.mean(np.diff(parts, axis=1) ** 2) / 2))
    points = np.arange(1, omega.size + 1)
    standard_scores = np.abs(np.cumsum(parts, axis=1)) / (
        max(noise, KK_NOISE_FLOOR) * np.sqrt(points)
    )
    return noise, float(standard_scores[:, KK_DRIFT_MIN_POINTS - 1 :].max(initial=0.0))


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
