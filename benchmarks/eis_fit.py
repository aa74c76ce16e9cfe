"""`acq.analysis.eis_fit.fit_spectrum` against impedance.py and pyimpspec on the same noisy
spectra.

Spectra as tests/analysis/test_eis_fit.py makes them: the default (sulfide) cell's true
circuit at each of ``--pressures`` (`circuit_at(microstructure_at(p))`), 1 MHz–0.1 Hz at
10 points per decade (71 points), 0.5 % proportional Gaussian noise (`measured_spectrum`),
seed k for spectrum k; ``--spectra`` spectra in all, the pressures taken in turn.

impedance.py (a dependency: `acq import` reads files with it) fits
``R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-W1``, which is our ``R0-RQ-RQ-RQ-W`` exactly: its CPE
is 1/(Q·(jω)^α), so p(R, CPE) = R/(1 + R·Q·(jω)^α), our RQ arc; its W is A_W·(1 − j)/√ω and
our Warburg σ·√2/√(jω) = σ·(1 − j)/√ω, so A_W = σ (at the true values the two circuits agree
to 1e-15, relative). It is called with its defaults (unweighted `scipy.optimize.curve_fit`,
bounds [0, ∞), α ≤ 1). Weighting by |Z| (``weight_by_modulus=True``), which matches the
noise, left the parameters at the initial guess on these spectra (Q ≈ 1e-9 beside R ≈ 1e4 Ω
defeats the unscaled solver); adding ``x_scale='jac'`` made it converge but took 48–135 s
per fit, too slow to compare.

pyimpspec (the ``bench`` extra, pyproject.toml) fits ``R(RQ)(RQ)(RQ)W``, the same circuit: its
Q is 1/(Y·(jω)^n), so Y is our Q, and its W is 1/(Y·√(jω)) with Y = 1/(σ·√2). It is called
with ``method='least_squares'`` and ``weight='modulus'`` (1/|Z|, as the noise and our fit
weigh; its default ``'auto'`` tries every method and weight, minutes a fit), one process,
from the same guesses as impedance.py.

Initial guess of impedance.py and pyimpspec (``--guess``):

``truth`` (default)
    Every R, Q and σ at 1.2 × its true value, every exponent at 0.85 (the starting exponent
    of our fit; 1.2 × the true 0.85–0.95 would break the bound α ≤ 1). This is information
    our fit does not get: it reads its starts off the spectrum.
``spectrum``
    The starts our fit reads off the spectrum (real-axis intercepts and −Z″ apexes,
    `acq.analysis.eis_fit._starts`, one per matching of the apexes found to the three arcs),
    each fitted, the lowest impedance.py cost (unweighted squared residual) kept, the time
    summed, as our fit does. Slower: in trials a single start took up to 80 s.

Printed for both: median and max wall time per fit (ours includes every start and its
simplifications, the fits with fewer arcs it F-tests), the ratio of the median times, how
many spectra had the lowest-frequency arc's R within 5 % of the true R_ct (overall and per
pressure), and that R's median relative error. Our fit names the arcs from the
low-frequency end, so that arc is ``R_ct_ohm``; impedance.py's arcs are unordered, so its
lowest-frequency arc is the one of lowest characteristic frequency (R·Q)^(−1/α). A fit that
raises (impedance.py, pyimpspec) or is not converged (ours) counts as a miss; pyimpspec's
arcs are unordered too.

    .venv/bin/python benchmarks/eis_fit.py [--spectra 10] [--pressures 6 25 100]
                                           [--guess truth|spectrum]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from impedance.models.circuits import CustomCircuit
from pyimpspec import DataSet, fit_circuit, parse_cdc
from scipy.optimize import OptimizeWarning

from acq.analysis.eis_fit import _starts, fit_spectrum, parameter_names
from conventions.impedance import sweep_frequencies_Hz
from simulated_devices.physics.impedance import (
    EquivalentCircuit,
    circuit_at,
    measured_spectrum,
)
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters

NOISE = 0.005
FREQUENCIES_HZ = sweep_frequencies_Hz(1e6, 0.1, 10)
#: Our circuit and impedance.py's; parameters in the same order (high-frequency arc first).
OURS = "R0-RQ-RQ-RQ-W"
THEIRS = "R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-W1"
#: pyimpspec's circuit description code for it: R0, three (R‖Q), W, in that order.
PYIMPSPEC = "R(RQ)(RQ)(RQ)W"
#: Positions of (R, Q, α) of each arc in either parameter vector.
ARCS = ((1, 2, 3), (4, 5, 6), (7, 8, 9))
#: Starting exponent of the ``truth`` guess (that of our fit, `eis_fit.N_STARTS`).
START_EXPONENT = 0.85
GUESS_SCALE = 1.2
TOLERANCE = 0.05


def truth_guess(truth: EquivalentCircuit) -> list[float]:
    """Every R, Q and σ at 1.2 × truth, every exponent at 0.85, in `OURS` order."""
    return [
        START_EXPONENT if name.startswith("n_") else GUESS_SCALE * getattr(truth, name)
        for name in parameter_names(OURS)
    ]


def spectrum_guesses(z: np.ndarray) -> list[list[float]]:
    """Our fit's starts read off the spectrum, as values in `OURS` order."""
    names = parameter_names(OURS)
    return [
        [
            value if name.startswith("n_") else math.exp(value)
            for name, value in zip(names, start, strict=True)
        ]
        for start in _starts(FREQUENCIES_HZ, z, names)
    ]


def fit_impedance_py(z: np.ndarray, guesses: list[list[float]]) -> np.ndarray | None:
    """impedance.py's best fit over ``guesses`` (lowest unweighted cost), None if all raise."""
    best, best_cost = None, math.inf
    for guess in guesses:
        circuit = CustomCircuit(THEIRS, initial_guess=guess)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                circuit.fit(FREQUENCIES_HZ, z)
        except (RuntimeError, ValueError):
            continue
        cost = float(np.sum(np.abs(circuit.predict(FREQUENCIES_HZ) - z) ** 2))
        if cost < best_cost:
            best, best_cost = np.asarray(circuit.parameters_), cost
    return best


def fit_pyimpspec(z: np.ndarray, guesses: list[list[float]]) -> np.ndarray | None:
    """pyimpspec's best fit over ``guesses`` (lowest unweighted cost) as a vector in `OURS`
    order, None if all fail."""
    best, best_cost = None, math.inf
    data = DataSet(FREQUENCIES_HZ, z)
    for guess in guesses:
        circuit = parse_cdc(PYIMPSPEC)
        r0, *arcs, warburg = circuit.get_elements()
        r0.set_values(R=guess[0])
        pairs = zip(arcs[::2], arcs[1::2], strict=True)
        for (resistor, cpe), (r, q, n) in zip(pairs, ARCS, strict=True):
            resistor.set_values(R=guess[r])
            cpe.set_values(Y=guess[q], n=guess[n])
        warburg.set_values(Y=1.0 / (guess[10] * math.sqrt(2.0)))
        try:
            fitted = fit_circuit(
                circuit, data, method="least_squares", weight="modulus", num_procs=1
            ).circuit
        except (RuntimeError, ValueError):
            continue
        r0, *arcs, warburg = fitted.get_elements()
        values = [r0.get_value("R")]
        for resistor, cpe in zip(arcs[::2], arcs[1::2], strict=True):
            values += [resistor.get_value("R"), cpe.get_value("Y"), cpe.get_value("n")]
        values.append(1.0 / (warburg.get_value("Y") * math.sqrt(2.0)))
        cost = float(np.sum(np.abs(fitted.get_impedances(FREQUENCIES_HZ) - z) ** 2))
        if cost < best_cost:
            best, best_cost = np.asarray(values), cost
    return best


def lowest_frequency_r(parameters: np.ndarray) -> float:
    """R of the arc of lowest characteristic frequency (R·Q)^(−1/α) in a fitted vector."""

    def log_frequency(arc: tuple[int, int, int]) -> float:
        r, q, alpha = parameters[list(arc)]
        return -math.log(max(r * q, sys.float_info.min)) / alpha

    return float(parameters[min(ARCS, key=log_frequency)[0]])


def within_tolerance(errors: list[tuple[float, float]], pressure: float | None = None) -> str:
    """How many of the (pressure, relative error) records at ``pressure`` (None: all) are
    within `TOLERANCE`, as "k/n" (a NaN error, a failed fit, is not)."""
    chosen = [error for p, error in errors if pressure is None or p == pressure]
    return f"{sum(abs(error) <= TOLERANCE for error in chosen)}/{len(chosen)}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spectra", type=int, default=10)
    parser.add_argument(
        "--pressures",
        type=float,
        nargs="+",
        default=[6.0, 25.0, 100.0],
        help="stack pressures of the default cell, MPa",
    )
    parser.add_argument(
        "--guess",
        choices=("truth", "spectrum"),
        default="truth",
        help="impedance.py's initial guess (see above)",
    )
    args = parser.parse_args()
    params = CellParameters()
    truths = {p: circuit_at(microstructure_at(p, params), params) for p in args.pressures}
    seconds: dict[str, list[float]] = {"acq fit_spectrum": [], "impedance.py": [], "pyimpspec": []}
    errors: dict[str, list[tuple[float, float]]] = {name: [] for name in seconds}
    for seed in range(args.spectra):
        pressure = args.pressures[seed % len(args.pressures)]
        truth = truths[pressure]
        z = measured_spectrum(truth, FREQUENCIES_HZ, NOISE, np.random.default_rng(seed))

        started = time.perf_counter()
        ours = fit_spectrum(FREQUENCIES_HZ, z.real, z.imag, circuit=OURS)
        seconds["acq fit_spectrum"].append(time.perf_counter() - started)
        r_ours = ours.parameters["R_ct_ohm"].value if ours.converged else math.nan
        errors["acq fit_spectrum"].append((pressure, r_ours / truth.R_ct_ohm - 1))

        guesses = [truth_guess(truth)] if args.guess == "truth" else spectrum_guesses(z)
        started = time.perf_counter()
        theirs = fit_impedance_py(z, guesses)
        seconds["impedance.py"].append(time.perf_counter() - started)
        r_theirs = math.nan if theirs is None else lowest_frequency_r(theirs)
        errors["impedance.py"].append((pressure, r_theirs / truth.R_ct_ohm - 1))

        started = time.perf_counter()
        pyimpspec_fit = fit_pyimpspec(z, guesses)
        seconds["pyimpspec"].append(time.perf_counter() - started)
        r_pyimpspec = math.nan if pyimpspec_fit is None else lowest_frequency_r(pyimpspec_fit)
        errors["pyimpspec"].append((pressure, r_pyimpspec / truth.R_ct_ohm - 1))

    print(
        f"{args.spectra} spectra of {FREQUENCIES_HZ.size} points, {100 * NOISE:g} % noise, "
        f"default cell at {', '.join(f'{p:g}' for p in args.pressures)} MPa; "
        f"impedance.py and pyimpspec guess: {args.guess}"
    )
    print(
        f"{'fitter':18} {'median/s':>9} {'max/s':>8} {'R_ct ±5 %':>10} "
        f"{'per pressure':>18} {'median |ΔR_ct|':>15}"
    )
    for name, times in seconds.items():
        by_pressure = " ".join(within_tolerance(errors[name], p) for p in args.pressures)
        median_error = np.nanmedian([abs(error) for _, error in errors[name]])
        print(
            f"{name:18} {np.median(times):9.3f} {max(times):8.3f} "
            f"{within_tolerance(errors[name]):>10} {by_pressure:>18} "
            f"{100 * median_error:14.2f}%"
        )
    for name in ("impedance.py", "pyimpspec"):
        ratio = np.median(seconds[name]) / np.median(seconds["acq fit_spectrum"])
        print(f"median time, {name} ÷ acq fit_spectrum: {ratio:.2f}")


if __name__ == "__main__":
    main()
