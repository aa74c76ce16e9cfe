"""Equivalent-circuit fits of impedance spectra, with honest uncertainties.

Circuits are named by their elements in series, high frequency first: ``L`` (an inductor,
Z = L·jω: the leads and cell holder, seen as Z″ > 0 at the highest frequencies), ``R0`` (a
resistor), ``RQ`` (a resistor parallel to a constant-phase element,
Z = R / (1 + R·Q·(jω)^n)) and ``W`` (a semi-infinite Warburg element, Z = σ·√2 / √(jω)).
The default, ``R0-RQ-RQ-RQ-W``, is R0 + bulk arc + grain-boundary arc + charge-transfer arc
+ diffusion tail. Arcs are named from the low-frequency end: the lowest is ``ct``, then
``gb``, then ``b`` (``R0-RQ-RQ-W``: ``b`` and ``ct``). Parameters carry their units:
``R0_ohm``, ``R_ct_ohm``, ``Q_ct`` (F·s^(n−1)), ``n_ct``, ``sigma_W_ohm_s05`` — the names of
the simulator's `EquivalentCircuit` — and ``L_H`` (henry).

Written by hand rather than with impedance.py because what makes a fit of every spectrum
reliable and fast is not in impedance.py: one start read off the spectrum's distribution of
relaxation times (its peaks are the arcs; `_drt_start`), arcs fitted as (R, τ, n) with an
analytic Jacobian, simplifications tried in turn with an F-test only where the data can
tell (`_arcs_resolved`), arcs sorted by frequency, and standard errors with unresolved
parameters flagged. `benchmarks/eis_fit.py` measured it here (10 spectra of the default
cell, 0.5 % noise, CPU time on a loaded machine): all of `fit_spectrum` a median 25 ms, of
which the KK test and DRT (`eis_validity`) 20 ms and the circuit fit with its model
selection 5 ms; impedance.py (unweighted; ``weight_by_modulus`` left it at the guess) from
the same start 83 ms per fit, with R_ct and R0 + R_b + R_gb within 5 % on 5 of 10 spectra,
this fit on 10 of 10. Fitting from every matching of the −Z″ apexes to the arcs
(`_starts`), as this fit did before, took 7× longer and on some spectra still stopped in a
poorer minimum; those starts are now tried only when the DRT's start does not describe the
spectrum.

Uncertainties come from the fit's covariance, s²·(JᵀJ)⁻¹ with s² the reduced residual
variance, in log-parameter space (so intervals of positive quantities stay positive); over 200
spectra of the default cell at 25 MPa and 0.5 % noise the true R_ct lay inside the reported
95 % interval 94 % of the time, R0 + R_b + R_gb 93 % (tests/unit/analysis/test_eis_fit.py). A
parameter whose relative standard error exceeds `UNRESOLVED_RELATIVE_ERROR` is listed in
``unresolved`` rather than reported as if certain: typically the bulk arc of a sulfide cell,
which lies above 1 MHz, so that only R0 + R_b is determined.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, signal, special

from .eis_validity import DRT, drt, kk_test

#: Arc names by number of arcs in the circuit, high frequency first.
ARC_NAMES = {1: ("ct",), 2: ("b", "ct"), 3: ("b", "gb", "ct")}
#: Elements a circuit may be built of.
ELEMENTS = ("L", "R0", "RQ", "W")
#: Bounds of the CPE exponent.
N_BOUNDS = (0.4, 1.0)
#: Starting CPE exponents tried (the best fit wins).
N_STARTS = (0.85,)
#: Relative standard error above which a parameter counts as not resolved.
UNRESOLVED_RELATIVE_ERROR = 0.5
#: Relative RMS residual above which a fit is not accepted (the circuit does not describe
#: the spectrum, or the solver stopped in a poor minimum).
MAX_RELATIVE_RESIDUAL = 0.05
#: A simplification with fewer arcs is kept unless it fits worse at this significance.
SIMPLIFICATION_P_VALUE = 0.05
#: How far the Wald statistic of every arc's R must exceed the F-test's threshold for the
#: simplification with one arc fewer not to be fitted (`_arcs_resolved`).
WALD_MARGIN = 4.0
#: The solver stops when a step lowers the cost by less than this fraction: at a fit that
#: describes the spectrum that is a change of χ² by some 0.01, far below the noise's (the
#: F-test needs several), and it stops the slow slide along directions the spectrum does not
#: determine (R0 against a bulk arc above the window), which took hundreds of steps.
COST_TOLERANCE = 1e-4
#: Largest log-space half-width an interval is given (beyond it the interval is [0, inf)).
MAX_LOG_SPREAD = 700.0
#: Two-sided 95 % quantile of the normal distribution.
Z95 = 1.959963984540054
#: Boltzmann constant, eV/K.
BOLTZMANN_eV_K = 8.617333262e-5


class CircuitElements(NamedTuple):
    """What a circuit name holds: an inductor, R0, the number of RQ arcs, a Warburg."""

    inductor: bool
    r0: bool
    arcs: int
    warburg: bool

    def name(self) -> str:
        """The circuit's name, e.g. ``L-R0-RQ-RQ-W``."""
        parts = (["L"] if self.inductor else []) + (["R0"] if self.r0 else [])
        return "-".join(parts + ["RQ"] * self.arcs + (["W"] if self.warburg else []))


def parse_circuit(circuit: str) -> CircuitElements:
    """The elements of a circuit name such as ``L-R0-RQ-RQ-RQ-W``.

    Raises
    ------
    ValueError
        For an unknown element, elements out of order, or more than three arcs.
    """
    parts = circuit.split("-")
    if any(part not in ELEMENTS for part in parts):
        raise ValueError(f"circuit {circuit!r}: elements must be among {ELEMENTS}, joined by '-'")
    order = sorted(parts, key=ELEMENTS.index)
    if parts != order:
        raise ValueError(f"circuit {circuit!r}: write L and R0 first, then the RQ arcs, then W")
    arcs = parts.count("RQ")
    if arcs not in ARC_NAMES or any(parts.count(single) > 1 for single in ("L", "R0", "W")):
        raise ValueError(
            f"circuit {circuit!r}: need one to three RQ arcs and at most one L, R0 and W"
        )
    return CircuitElements("L" in parts, "R0" in parts, arcs, "W" in parts)


def drt_suggestion(circuit: str, distribution: DRT) -> tuple[str, str] | None:
    """(what a spectrum's distribution of relaxation times shows, the circuit it suggests):
    ``circuit`` with as many RQ arcs as it resolves (one to three) and a W if it has a
    diffusion tail, its L and R0 kept; None if that is ``circuit`` or it resolves no arc."""
    elements = parse_circuit(circuit)
    if not distribution.peaks:
        return None
    arcs = min(max(distribution.peaks, 1), max(ARC_NAMES))
    suggested = elements._replace(arcs=arcs, warburg=elements.warburg or distribution.tail)
    if suggested == elements:
        return None
    tail = " and a diffusion tail" if distribution.tail else ""
    return f"the DRT resolves {distribution.peaks} arcs{tail}", suggested.name()


def parameter_names(circuit: str) -> list[str]:
    """Names of a circuit's parameters, in fit order."""
    elements = parse_circuit(circuit)
    names = (["L_H"] if elements.inductor else []) + (["R0_ohm"] if elements.r0 else [])
    for arc in ARC_NAMES[elements.arcs]:
        names += [f"R_{arc}_ohm", f"Q_{arc}", f"n_{arc}"]
    return names + (["sigma_W_ohm_s05"] if elements.warburg else [])


def _is_exponent(name: str) -> bool:
    return name.startswith("n_")


def circuit_impedance(
    circuit: str, values: dict[str, float], frequency_Hz: np.ndarray
) -> np.ndarray:
    """Complex impedance of ``circuit`` with parameter ``values`` at the frequencies, Ω."""
    names = parameter_names(circuit)
    theta = np.array([values[n] if _is_exponent(n) else math.log(values[n]) for n in names])
    return _model(
        _to_tau(theta, names), names, 2j * np.pi * np.asarray(frequency_Hz, dtype=float)
    )[0]


def _arc_starts(names: list[str]) -> list[int]:
    """Positions of the arcs' (R, Q, n) triples in a parameter vector."""
    return [k for k, name in enumerate(names) if name.startswith("R_")]


def _to_tau(theta: np.ndarray, names: list[str]) -> np.ndarray:
    """Log-parameters with each arc's ln Q replaced by ln τ = (ln R + ln Q)/n."""
    phi = theta.copy()
    for k in _arc_starts(names):
        phi[k + 1] = (theta[k] + theta[k + 1]) / theta[k + 2]
    return phi


def _from_tau(phi: np.ndarray, jacobian: np.ndarray, names: list[str]):
    """(θ, ∂r/∂θ): the fit's τ-form parameters and Jacobian in the reported ln Q form."""
    theta, columns = phi.copy(), jacobian.copy()
    for k in _arc_starts(names):
        log_tau, n = phi[k + 1], phi[k + 2]
        theta[k + 1] = n * log_tau - phi[k]
        # ln τ = (ln R + ln Q)/n: ∂/∂ln R and ∂/∂ln Q gain ∂/∂ln τ / n, ∂/∂n loses ln τ/n of it
        tau_column = jacobian[:, k + 1] / n
        columns[:, k] += tau_column
        columns[:, k + 1] = tau_column
        columns[:, k + 2] -= tau_column * log_tau
    return theta, columns


def _model(phi: np.ndarray, names: list[str], s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z(s) and dZ/dφ (columns) for log-parameters φ (exponents linear) in which each arc
    is (ln R, ln τ, n), Z = R / (1 + (sτ)^n): R and τ are far less correlated than R and Q,
    which keeps the solver's steps few. The arcs are evaluated together, as columns."""
    z = np.zeros(s.shape, dtype=complex)
    jacobian = np.zeros((s.size, len(names)), dtype=complex)
    arcs = np.array(_arc_starts(names), dtype=int)
    if arcs.size:
        r, log_tau, n = np.exp(phi[arcs]), phi[arcs + 1], phi[arcs + 2]
        log_st = np.log(s)[:, None] + log_tau  # ln(sτ), a column per arc
        power = np.exp(n * log_st)  # (sτ)^n
        arc = r / (1.0 + power)
        slope = arc * power / (1.0 + power)  # −∂Z/∂ln((sτ)^n)
        z += arc.sum(axis=1)
        jacobian[:, arcs] = arc
        jacobian[:, arcs + 1] = -n * slope
        jacobian[:, arcs + 2] = -log_st * slope
    for k, name in enumerate(names):
        if name == "L_H":
            column = math.exp(phi[k]) * s
        elif name == "R0_ohm":
            column = np.full(s.shape, math.exp(phi[k]), dtype=complex)
        elif name == "sigma_W_ohm_s05":
            column = math.exp(phi[k]) * math.sqrt(2.0) / np.sqrt(s)
        else:
            continue
        z += column
        jacobian[:, k] = column
    return z, jacobian


@dataclass(frozen=True)
class Estimate:
    """A fitted parameter: value, standard error and 95 % interval (same unit)."""

    value: float
    stderr: float
    ci95_low: float
    ci95_high: float


@dataclass(frozen=True)
class EISFit:
    """The fit of one spectrum.

    Attributes
    ----------
    circuit
        Circuit name.
    fitted_circuit
        The circuit or the simplification with fewer arcs that the spectrum supports.
    converged
        Whether the solver converged to a fit that describes the spectrum (relative RMS
        residual below `MAX_RELATIVE_RESIDUAL`). When False, the parameters are not to be
        reported.
    message
        The solver's message, or why the fit was rejected.
    parameters
        Estimates by name (see the module docstring for names and units).
    relative_rms_residual
        RMS of (Z_fit − Z)/|Z| over real and imaginary parts.
    unresolved
        Parameters whose relative standard error exceeds `UNRESOLVED_RELATIVE_ERROR`.
    at_bounds
        Parameters the fit left on a bound (`N_BOUNDS` for exponents; `_bounds`): their value
        and standard error are the bound's, not the spectrum's. ``L_H`` on its lower bound
        means the spectrum shows no inductance.
    kk_residual_max
        Largest relative residual of the linear Kramers–Kronig test (`eis_validity.kk_test`).
    kk_valid
        Whether the spectrum passes it; if not, the cell changed during the sweep and no
        circuit's parameters are to be trusted, converged or not.
    drt_peak_tau_s
        Relaxation times (s) of the arcs the spectrum's distribution of relaxation times
        resolves (`eis_validity.drt`), shortest first: as many as the circuit's arcs if the
        spectrum supports the circuit.
    """

    circuit: str
    fitted_circuit: str
    converged: bool
    message: str
    parameters: dict[str, Estimate]
    relative_rms_residual: float
    unresolved: tuple[str, ...]
    covariance: np.ndarray
    at_bounds: tuple[str, ...] = ()
    kk_residual_max: float = math.nan
    kk_valid: bool = True
    drt_peak_tau_s: tuple[float, ...] = ()

    def values(self) -> dict[str, float]:
        """Fitted values by name."""
        return {name: estimate.value for name, estimate in self.parameters.items()}

    def sum_of(self, names: Sequence[str]) -> Estimate:
        """The sum of positive parameters (e.g. R0 + R_b + R_gb) with its uncertainty, from
        the covariance (well determined even when its terms are not)."""
        order = list(self.parameters)
        gradient = np.zeros(len(order))
        for name in names:  # an arc merged into its neighbour (NaN) adds nothing
            if math.isfinite(self.parameters[name].value):
                gradient[order.index(name)] = self.parameters[name].value
        total = float(gradient.sum())
        stderr = float(math.sqrt(max(gradient @ self.covariance @ gradient, 0.0)))
        return Estimate(total, stderr, total - Z95 * stderr, total + Z95 * stderr)

    def impedance(self, frequency_Hz: np.ndarray) -> np.ndarray:
        """The fitted circuit's impedance at the frequencies, Ω."""
        return circuit_impedance(self.fitted_circuit, self.values(), frequency_Hz)

    def summary(self) -> str:
        """One line for a log."""
        if not self.converged:
            return f"fit did not converge ({self.message})"
        r_ct = self.parameters["R_ct_ohm"]
        flagged = f"; unresolved: {', '.join(self.unresolved)}" if self.unresolved else ""
        if self.at_bounds:
            flagged += f"; at bounds: {', '.join(self.at_bounds)}"
        if not self.kk_valid:
            flagged += f"; not KK-consistent ({100 * self.kk_residual_max:.1f} %)"
        return (
            f"R_ct = {r_ct.value:.4g} ± {r_ct.stderr:.2g} Ω, residual "
            f"{100 * self.relative_rms_residual:.2f} %{flagged}"
        )

    def as_dict(self) -> dict[str, float | str | bool]:
        """Flat record: ``converged``, residual, ``unresolved`` and ``at_bounds``
        (comma-separated), ``kk_residual_max``, ``kk_valid``, ``drt_peaks`` (their number)
        and ``drt_peak_tau_s`` (comma-separated, s), and for each parameter its value and
        ``_stderr``, ``_ci95_low``, ``_ci95_high``."""
        record: dict[str, float | str | bool] = {
            "circuit": self.circuit,
            "fitted_circuit": self.fitted_circuit,
            "converged": self.converged,
            "relative_rms_residual": self.relative_rms_residual,
            "unresolved": ",".join(self.unresolved),
            "at_bounds": ",".join(self.at_bounds),
            "kk_residual_max": self.kk_residual_max,
            "kk_valid": self.kk_valid,
            "drt_peaks": float(len(self.drt_peak_tau_s)),
            "drt_peak_tau_s": ",".join(f"{tau:.3g}" for tau in self.drt_peak_tau_s),
        }
        for name, estimate in self.parameters.items():
            record[name] = estimate.value
            record[f"{name}_stderr"] = estimate.stderr
            record[f"{name}_ci95_low"] = estimate.ci95_low
            record[f"{name}_ci95_high"] = estimate.ci95_high
        return record


def _drt_start(
    frequency_Hz: np.ndarray, z: np.ndarray, names: list[str], distribution: DRT
) -> np.ndarray | None:
    """One start (log-parameters) from the spectrum's distribution of relaxation times, or
    None if it resolves no arc.

    Its peaks are the arcs the spectrum resolves: τ at each peak, R the area of γ around it
    (down to the minima between neighbouring peaks, at most a decade either side, so that a
    diffusion tail is not counted in). With more peaks than arcs the largest are kept, a
    dropped peak's area going to its shorter-τ neighbour (R0 for the shortest); arcs beyond
    the peaks lie above the window, a decade apart, and share R∞ with R0 (a sulfide's bulk
    arc).
    """
    if not distribution.peaks:
        return None
    order = np.argsort(frequency_Hz)[::-1]  # high frequency first
    omega, z = 2 * np.pi * frequency_Hz[order], z[order]
    scale = float(np.abs(z).max())
    arcs = len(_arc_starts(names))
    log_tau, gamma = np.log(distribution.tau_s), distribution.gamma_ohm
    step = float(log_tau[1] - log_tau[0])
    peaks = [int(np.argmin(np.abs(log_tau - math.log(t)))) for t in distribution.peak_tau_s]
    width = round(math.log(10.0) / step)
    edges = [p + int(np.argmin(gamma[p : q + 1])) for p, q in itertools.pairwise(peaks)]
    areas = []
    for k, peak in enumerate(peaks):
        low = max(edges[k - 1] if k else 0, peak - width)
        high = min(edges[k] if k < len(edges) else gamma.size - 1, peak + width)
        areas.append(step * float(gamma[low : high + 1].sum()))
    kept = sorted(sorted(range(len(peaks)), key=lambda k: areas[k])[-arcs:])
    r0 = max(distribution.r_inf_ohm, 0.0)
    arc_r = [areas[k] for k in kept]
    for k in set(range(len(peaks))) - set(kept):
        shorter = [i for i, kept_k in enumerate(kept) if kept_k < k]
        if shorter:
            arc_r[shorter[-1]] += areas[k]
        else:
            r0 += areas[k]
    arc_tau = [distribution.tau_s[peaks[k]] for k in kept]
    above = arcs - len(kept)
    r0 /= above + 1
    arc_r = [r0] * above + arc_r
    arc_tau = [1.0 / (omega[0] * 10.0 ** (above - arc)) for arc in range(above)] + arc_tau
    n = N_STARTS[0]
    theta, arc = [], 0
    for name in names:
        if name == "L_H":
            theta.append(math.log(_inductance_start(omega, z, scale)))
        elif name == "R0_ohm":
            theta.append(math.log(max(r0, 1e-6 * scale)))
        elif name.startswith("R_"):
            r = max(arc_r[arc], 1e-6 * scale)
            theta += [math.log(r), n * math.log(arc_tau[arc]) - math.log(r), n]
            arc += 1
        elif name == "sigma_W_ohm_s05":
            theta.append(math.log(_warburg_start(omega, z, scale)))
    return np.array(theta)


def _warburg_start(omega: np.ndarray, z: np.ndarray, scale: float) -> float:
    """σ from −Z″ at the lowest frequency (``omega``, ``z`` high frequency first), Ω·s^−½."""
    return max(float(-z.imag[-1]) * math.sqrt(omega[-1]) * 0.5, 1e-6 * scale)


def _inductance_start(omega: np.ndarray, z: np.ndarray, scale: float) -> float:
    """L from Z″ at the highest frequency: Z″ > 0 at the top of the window is the
    inductor's, Z″ ≈ ωL there (``omega``, ``z`` high frequency first), H."""
    return max(float(z.imag[0]), 1e-6 * scale) / omega[0]


def _starts(frequency_Hz: np.ndarray, z: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """Starting log-parameters read off the spectrum.

    Apexes of −Z″ give resolved arcs' characteristic frequencies and the minima between them
    their real-axis intercepts. An arc may show only as a shoulder (a charge-transfer arc
    merging into the Warburg tail) or lie above the highest frequency (a bulk arc), so every
    way of matching the apexes found to the circuit's arcs, in order, is a start; arcs left
    over go above the window (sharing the high-frequency intercept with R0) or into the gaps
    below the lowest apex.
    """
    order = np.argsort(frequency_Hz)[::-1]  # high frequency first
    f, z = frequency_Hz[order], z[order]
    minus_imag, omega = -z.imag, 2 * np.pi * f
    scale = float(np.abs(z).max())
    arcs = sum(name.startswith("R_") for name in names)
    apexes = list(signal.find_peaks(minus_imag, prominence=0.01 * scale)[0])[-arcs:]
    starts = []
    for slots in itertools.combinations(range(arcs), len(apexes)):
        for n in N_STARTS:
            arc_r, arc_omega, r0 = _arc_guesses(omega, z, apexes, slots, arcs)
            warburg = _warburg_start(omega, z, scale)
            inductor = _inductance_start(omega, z, scale)
            theta, arc = [], 0
            for name in names:
                if name == "L_H":
                    theta.append(math.log(inductor))
                elif name == "R0_ohm":
                    theta.append(math.log(max(r0, 1e-6 * scale)))
                elif name.startswith("R_"):
                    r = max(arc_r[arc], 1e-6 * scale)
                    theta += [math.log(r), math.log(1.0 / (r * arc_omega[arc] ** n)), n]
                    arc += 1
                elif name == "sigma_W_ohm_s05":
                    theta.append(math.log(warburg))
            starts.append(np.array(theta))
    return starts


def _arc_guesses(
    omega: np.ndarray, z: np.ndarray, apexes: list[int], slots: tuple[int, ...], arcs: int
) -> tuple[list[float], list[float], float]:
    """(R, apex ω) of each arc, high frequency first, and R0, for one matching of the
    apexes found (indices into the spectrum, high frequency first) to arc ``slots``."""
    minus_imag, scale = -z.imag, float(np.abs(z).max())
    floor = 1e-3 * scale
    # Real-axis intercepts around each apex: the lowest −Z″ between neighbouring apexes.
    bounds = [0, *apexes, len(omega) - 1]
    intercepts = [
        bounds[i] + int(np.argmin(minus_imag[bounds[i] : bounds[i + 1] + 1]))
        for i in range(len(bounds) - 1)
    ]
    high = max(float(z.real[intercepts[0]]), floor)
    low_span = max(float(z.real[-1] - z.real[intercepts[-1]]), floor)
    above = slots[0] if slots else arcs
    below = arcs - 1 - slots[-1] if slots else 0
    r0 = high / (above + 1)
    resistances, frequencies = [], []
    for arc in range(arcs):
        if arc in slots:
            k = slots.index(arc)
            resistances.append(
                max(float(z.real[intercepts[k + 1]] - z.real[intercepts[k]]), floor)
            )
            frequencies.append(omega[apexes[k]])
        elif arc < above:  # above the window: shares the high-frequency intercept with R0
            resistances.append(r0)
            frequencies.append(omega[0] * 10.0 ** (above - arc))
        elif arc > slots[-1]:  # below the lowest apex: shares its span with the tail
            top = omega[apexes[-1]]
            resistances.append(0.5 * low_span / below)
            frequencies.append(top * (omega[-1] / top) ** ((arc - slots[-1]) / (below + 1)))
        else:  # hidden between two resolved arcs
            k = max(i for i, slot in enumerate(slots) if slot < arc)
            resistances.append(0.1 * resistances[-1])
            frequencies.append(math.sqrt(omega[apexes[k]] * omega[apexes[k + 1]]))
    return resistances, frequencies, r0


def fit_spectrum(
    frequency_Hz: ArrayLike,
    z_real_ohm: ArrayLike,
    z_imag_ohm: ArrayLike,
    circuit: str = "R0-RQ-RQ-RQ-W",
) -> EISFit:
    """Fit ``circuit`` to one spectrum.

    The circuit is fitted, then its simplifications with one arc fewer, and so on; a
    simplification is kept while it does not fit significantly worse (F-test), i.e. while
    the spectrum cannot separate the arcs it merges (a bulk and a grain-boundary arc both
    near the top of the window), or while it resolves the arcs below the highest where the
    richer circuit left one of them unresolved (an arc split in two, or a spurious arc). Arcs
    a simplification drops are reported as NaN and listed in ``unresolved`` rather than
    fitted to noise. Arcs are named in order of their characteristic frequency, so the
    lowest-frequency arc is always ``ct``.

    Parameters
    ----------
    frequency_Hz, z_real_ohm, z_imag_ohm
        The spectrum (any frequency order), Hz and Ω; Z = Z′ + jZ″ (Z″ < 0 for capacitive
        arcs).
    circuit
        Circuit name (see the module docstring).

    Returns
    -------
    EISFit
        ``converged`` False if no fit describes the spectrum.
    """
    elements = parse_circuit(circuit)
    f = np.asarray(frequency_Hz, dtype=float)
    z = np.asarray(z_real_ohm, dtype=float) + 1j * np.asarray(z_imag_ohm, dtype=float)
    if f.size <= len(parameter_names(circuit)) or not np.all(np.isfinite(z)) or not np.all(f > 0):
        raise ValueError(
            f"need more than {len(parameter_names(circuit))} finite points at "
            f"positive frequencies to fit {circuit}, got {f.size}"
        )
    points = 2 * f.size
    names = parameter_names(circuit)
    distribution = drt(f, z.real, z.imag)
    full = _best_fit(f, z, names, distribution)
    best_names, best = names, full
    for reduced_arcs in range(elements.arcs - 1, 0, -1):
        if _arcs_resolved(best, best_names, points):
            break  # every arc is determined well enough that dropping one fits worse
        names = parameter_names(elements._replace(arcs=reduced_arcs).name())
        candidate = _best_fit(f, z, names, distribution)
        if not _worse(candidate.cost, len(names), best.cost, len(best_names), points):
            # The richer fit may have stopped in a poorer minimum than its simplification
            # allows (its start matched a spurious DRT peak): refit it from the
            # simplification with the arc added above the window, at least as good.
            retry = _fitted(f, z, best_names, [_with_arc_above(candidate.x, names, f)])
            if retry.cost < best.cost:
                full = retry if best is full else full
                best = retry
        rescues = _arc_unresolved(best, best_names, points) and not _arc_unresolved(
            candidate, names, points
        )
        if not rescues and _worse(candidate.cost, len(names), best.cost, len(best_names), points):
            break
        best_names, best = names, candidate
    # A simplification's standard errors do not know it was chosen after looking at the
    # data; where the full circuit resolves a parameter, its error is the floor.
    floor = {
        name: se
        for name, se in _log_errors(parameter_names(circuit), full, points).items()
        if se <= UNRESOLVED_RELATIVE_ERROR
    }
    result = _result(circuit, best_names, best, points, floor)
    message = result.message
    if not result.converged and not elements.inductor and _inductive(f, z):
        message += f"; Z″ > 0 at the top of the window is inductive: fit L-{circuit}"
    suggestion = drt_suggestion(circuit, distribution)
    if not result.converged and suggestion is not None:
        message += f"; {suggestion[0]}: try {suggestion[1]}"
    kk = kk_test(f, z.real, z.imag)
    if not kk.valid:
        message += (
            f"; not Kramers–Kronig consistent ({kk.reason()}): the cell changed during the sweep"
        )
    return dataclasses.replace(
        result,
        message=message,
        kk_residual_max=kk.residual_max,
        kk_valid=kk.valid,
        drt_peak_tau_s=distribution.peak_tau_s,
    )


def _inductive(frequency_Hz: np.ndarray, z: np.ndarray) -> bool:
    """Whether Z″ > 0 at the spectrum's highest frequencies (its top three points)."""
    return bool(np.all(z.imag[np.argsort(frequency_Hz)[-3:]] > 0))


def _at_bounds(result, names: list[str]) -> list[str]:
    """The parameters a fit left on their bounds (`least_squares`' active constraints)."""
    return [name for name, active in zip(names, result.active_mask, strict=True) if active]


def _arcs_resolved(result, names: list[str], points: int) -> bool:
    """Whether every arc's resistance is determined so well that the fit with one arc fewer
    would fit significantly worse, so need not be fitted. Dropping an arc sets its R to 0;
    the increase of the squared residual that costs, in units of the residual variance, is
    about the Wald statistic (R/se(R))² = 1/se(ln R)², and the F-test rejects the
    simplification when that increase exceeds ``extra`` × its critical F. Required here:
    `WALD_MARGIN` times that, for every arc."""
    arcs = [name for name in names if name.startswith("R_") and name.endswith("_ohm")]
    if len(arcs) < 2:
        return False
    errors = _log_errors(names, result, points)
    extra, dof = 3, points - len(names)
    needed = WALD_MARGIN * extra * special.fdtri(extra, dof, 1.0 - SIMPLIFICATION_P_VALUE)
    return all(errors[name] ** -2 > needed for name in arcs)


def _arc_unresolved(result, names: list[str], points: int) -> bool:
    """Whether a fit leaves unresolved the resistance of an arc below its highest-frequency
    one (an arc split in two, or fitted to noise). The highest arc's may be unresolved
    honestly: above the window it trades with R0, and only their sum is determined."""
    errors = _log_errors(names, result, points)
    arcs = [name for name in names if name.startswith("R_") and name.endswith("_ohm")]
    return any(errors[name] > UNRESOLVED_RELATIVE_ERROR for name in arcs[1:])


def _log_errors(names: list[str], result, points: int) -> dict[str, float]:
    """Standard errors of the fitted (log-)parameters by name."""
    covariance = _covariance(result, len(names), points)
    return {name: float(math.sqrt(max(covariance[k, k], 0.0))) for k, name in enumerate(names)}


def _covariance(result, parameters: int, points: int) -> np.ndarray:
    """s²·(JᵀJ)⁻¹ at the solution, s² the reduced residual variance."""
    variance = float(np.sum(result.fun**2) / max(points - parameters, 1))
    # (JᵀJ)⁻¹ from the SVD of J, without pinv's truncation: a direction the data hardly
    # constrain (R0 beside a bulk arc above the window) must get its large variance, not 0.
    _, singular, vt = np.linalg.svd(result.jac, full_matrices=False)
    singular = np.maximum(singular, singular[0] * np.finfo(float).eps)
    return variance * (vt.T / singular**2) @ vt


def _worse(
    reduced_cost: float,
    reduced_parameters: int,
    full_cost: float,
    full_parameters: int,
    points: int,
) -> bool:
    """Whether the nested fit with fewer parameters describes the data significantly worse
    (F-test at `SIMPLIFICATION_P_VALUE`)."""
    extra = full_parameters - reduced_parameters
    dof = points - full_parameters
    statistic = ((reduced_cost - full_cost) / extra) / (full_cost / dof)
    # scipy.special's F survival function: scipy.stats' checks cost more than the test
    return special.fdtrc(extra, dof, statistic) < SIMPLIFICATION_P_VALUE


def _best_fit(f: np.ndarray, z: np.ndarray, names: list[str], distribution: DRT):
    """The least-squares fit of ``names`` from the one start the DRT gives (`_drt_start`);
    if that does not describe the spectrum, the lowest-cost fit from that and every start
    read off the −Z″ apexes (`_starts`)."""
    first = _drt_start(f, z, names, distribution)
    best = None if first is None else _fitted(f, z, names, [first])
    if best is None or _relative_rms(best) >= MAX_RELATIVE_RESIDUAL:
        others = _fitted(f, z, names, _starts(f, z, names))
        if best is None or others.cost < best.cost:
            best = others
    return best


def _fitted(f: np.ndarray, z: np.ndarray, names: list[str], starts: list[np.ndarray]):
    """The lowest-cost least-squares fit of ``names`` from ``starts`` (log-parameters),
    its arcs sorted by τ, its parameters and Jacobian in log-Q form.

    `scipy.optimize.least_squares` (trust-region reflective, for the exponents' bounds)
    with the circuit's analytic Jacobian (`_model`), residuals weighted by |Z| as the
    instrument's noise is. Hand-written rather than impedance.py's ``CustomCircuit``, which
    numerically differentiates an unweighted ``curve_fit`` and took some 100× longer per
    spectrum from the same start (`benchmarks/eis_fit.py`).
    """
    s, weight = 2j * np.pi * f, np.abs(z)
    omega = np.abs(s)
    bounds = [
        _bounds(n, float(weight.max()), float(omega.max()), float(omega.min())) for n in names
    ]
    low, high = (np.array(b) for b in zip(*bounds, strict=True))
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def weighted(phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # least_squares asks for residuals and Jacobian at the same φ: one model evaluation
        key = phi.tobytes()
        if key not in cache:
            cache.clear()
            model, columns = _model(phi, names, s)
            difference, columns = (model - z) / weight, columns / weight[:, None]
            cache[key] = (
                np.concatenate([difference.real, difference.imag]),
                np.concatenate([columns.real, columns.imag]),
            )
        return cache[key]

    best = None
    for start in starts:
        result = optimize.least_squares(
            lambda phi: weighted(phi)[0],
            np.clip(_to_tau(start, names), low + 1e-9, high - 1e-9),
            jac=lambda phi: weighted(phi)[1],
            bounds=(low, high),
            x_scale="jac",
            method="trf",
            ftol=COST_TOLERANCE,
        )
        if best is None or result.cost < best.cost:
            best = result
    best = _sorted_arcs(best, names)
    best.x, best.jac = _from_tau(best.x, best.jac, names)
    return best


def _with_arc_above(theta: np.ndarray, names: list[str], frequency_Hz: np.ndarray) -> np.ndarray:
    """A start for the circuit with one arc more than the fit ``theta`` of ``names`` (log-Q
    form): the fit's parameters, with an arc a decade above the window (n at the start
    exponent) that takes half of R0, or of the highest arc if there is no R0."""
    first = _arc_starts(names)[0]
    share = first - 1 if "R0_ohm" in names else first
    n = N_STARTS[0]
    r = theta[share] - math.log(2.0)
    tau = 1.0 / (20.0 * math.pi * float(np.max(frequency_Hz)))
    arc = [r, n * math.log(tau) - r, n]
    theta = theta.copy()
    theta[share] = r
    return np.concatenate([theta[:first], arc, theta[first:]])


def _relative_rms(result) -> float:
    """RMS of a fit's weighted residuals (relative to |Z|)."""
    return float(np.sqrt(np.mean(result.fun**2)))


def _sorted_arcs(result, names: list[str]):
    """Reorder the fitted arcs (τ form) by characteristic time, shortest first (so that the
    optimizer's arbitrary labelling of interchangeable arcs does not reach the report)."""
    first = _arc_starts(names)
    if len(first) < 2:
        return result
    x = result.x
    order = sorted(first, key=lambda k: x[k + 1])
    permutation = list(range(len(names)))
    for target, source in zip(first, order, strict=True):
        permutation[target : target + 3] = range(source, source + 3)
    result.x, result.jac = x[permutation], result.jac[:, permutation]
    result.active_mask = result.active_mask[permutation]
    return result


def _bounds(
    name: str, scale_ohm: float, max_omega: float, min_omega: float
) -> tuple[float, float]:
    """Bounds of a fit parameter in the solver's form (log for resistances, τ, σ and L;
    linear for exponents); ``scale_ohm`` the spectrum's largest |Z|, ``max_omega`` and
    ``min_omega`` its highest and lowest ω (rad/s)."""
    if _is_exponent(name):
        return N_BOUNDS
    if name.startswith("Q_"):  # the arc's τ: six decades beyond the window either side
        return math.log(1e-6 / max_omega), math.log(1e6 / min_omega)
    if name == "L_H":  # ωL at the top of the window between 1e-9 and 1e3 × |Z|
        return math.log(1e-9 * scale_ohm / max_omega), math.log(1e3 * scale_ohm / max_omega)
    return math.log(1e-9 * scale_ohm), math.log(1e3 * scale_ohm)


def _result(
    circuit: str, names: list[str], result, points: int, floor: dict[str, float]
) -> EISFit:
    """The fit of ``names`` (perhaps a simplification of ``circuit``) reported in the
    circuit's parameters; arcs the simplification dropped are NaN and unresolved. Standard
    errors (of log-parameters) are at least ``floor``."""
    rms = _relative_rms(result)
    covariance = _covariance(result, len(names), points)
    fitted = dict(zip(names, range(len(names)), strict=True))
    parameters, unresolved = {}, []
    for name in parameter_names(circuit):
        if name not in fitted:
            parameters[name] = Estimate(math.nan, math.nan, math.nan, math.nan)
            unresolved.append(name)
            continue
        k = fitted[name]
        se = max(float(math.sqrt(max(covariance[k, k], 0.0))), floor.get(name, 0.0))
        if _is_exponent(name):
            value = float(result.x[k])
            estimate = Estimate(value, se, value - Z95 * se, value + Z95 * se)
            relative = se / value
        else:
            value = math.exp(result.x[k])
            spread = math.exp(min(Z95 * se, MAX_LOG_SPREAD))
            estimate = Estimate(value, value * se, value / spread, value * spread)
            relative = se
        parameters[name] = estimate
        if relative > UNRESOLVED_RELATIVE_ERROR:
            unresolved.append(name)
    # Covariance in the circuit's parameter order (zero rows for dropped parameters).
    order = [fitted.get(name) for name in parameters]
    full = np.zeros((len(order), len(order)))
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            if a is not None and b is not None:
                full[i, j] = covariance[a, b]
    converged = bool(result.success) and rms < MAX_RELATIVE_RESIDUAL
    message = (
        result.message
        if converged or not result.success
        else (f"relative residual {100 * rms:.1f} % exceeds {100 * MAX_RELATIVE_RESIDUAL:.0f} %")
    )
    fitted_circuit = CircuitElements(
        "L_H" in names,
        "R0_ohm" in names,
        sum(n.startswith("R_") for n in names),
        "sigma_W_ohm_s05" in names,
    ).name()
    at_bounds = tuple(_at_bounds(result, names))
    if at_bounds:
        simplified = f"simplified to {fitted_circuit} " if fitted_circuit != circuit else ""
        message = f"{message}; {simplified}with {', '.join(at_bounds)} at their bounds"
    return EISFit(
        circuit,
        fitted_circuit,
        converged,
        message,
        parameters,
        rms,
        tuple(unresolved),
        full,
        at_bounds,
    )


def activation_energy_eV(
    temperatures_K: Sequence[float], resistances_ohm: Sequence[float]
) -> tuple[float, float]:
    """Arrhenius activation energy from resistances at several temperatures.

    Fits ln R = E_a / (k_B·T) + c.

    Returns
    -------
    (E_a, standard error), eV
    """
    x = 1.0 / (BOLTZMANN_eV_K * np.asarray(temperatures_K, dtype=float))
    y = np.log(np.asarray(resistances_ohm, dtype=float))
    if x.size < 3:
        raise ValueError(
            "need at least three temperatures for an activation energy and its uncertainty"
        )
    (slope, _), covariance = np.polyfit(x, y, 1, cov=True)
    return float(slope), float(math.sqrt(covariance[0, 0]))
