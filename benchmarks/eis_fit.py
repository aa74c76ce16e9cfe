"""`acq.analysis.eis_fit.fit_spectrum` against impedance.py (and pyimpspec) on the same noisy
spectra: time per spectrum and how many spectra get their resistances within 5 %.

Spectra as tests/unit/analysis/test_eis_fit.py makes them: the default (sulfide) cell's true
circuit at each of ``--pressures`` (`circuit_at(microstructure_at(p))`), 1 MHz–0.1 Hz at
10 points per decade (71 points), 0.5 % proportional Gaussian noise (`measured_spectrum`),
seed k for spectrum k; ``--spectra`` spectra in all, the pressures taken in turn.

Our time is all of `fit_spectrum`: the circuit fit with its model selection (the fits with
fewer arcs it F-tests) and the linear Kramers–Kronig test and DRT it reports with every fit
(`eis_validity`); the KK test and DRT alone are timed too, so that the circuit fit's share
is printed.

impedance.py (a dependency: `acq import` reads files with it) fits
``R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-W1``, which is our ``R0-RQ-RQ-RQ-W`` exactly: its CPE
is 1/(Q·(jω)^α), so p(R, CPE) = R/(1 + R·Q·(jω)^α), our RQ arc; its W is A_W·(1 − j)/√ω and
our Warburg σ·√2/√(jω) = σ·(1 − j)/√ω, so A_W = σ (at the true values the two circuits agree
to 1e-15, relative). It is called with its defaults (unweighted `scipy.optimize.curve_fit`,
bounds [0, ∞), α ≤ 1). Weighting by |Z| (``weight_by_modulus=True``), which matches the
noise, left the parameters at the initial guess on these spectra (Q ≈ 1e-9 beside R ≈ 1e4 Ω
defeats the unscaled solver); adding ``x_scale='jac'`` made it converge but took 48–135 s
per fit, too slow to compare.

pyimpspec (the ``bench`` extra, pyproject.toml; compared when installed, ``--pyimpspec``)
fits ``R(RQ)(RQ)(RQ)W``, the same circuit: its Q is 1/(Y·(jω)^n), so Y is our Q, and its W
is 1/(Y·√(jω)) with Y = 1/(σ·√2). It is called with ``method='least_squares'`` and
``weight='modulus'`` (1/|Z|, as the noise and our fit weigh; its default ``'auto'`` tries
every method and weight, minutes a fit), one process, from the same guess as impedance.py.

Initial guess of impedance.py and pyimpspec (``--guess``):

``spectrum`` (default; `figures`)
    The start our fit reads off the spectrum (`acq.analysis.eis_fit._drt_start`: the DRT's
    peaks, their areas and R∞), so that both are given the spectrum only.
``truth``
    Every R, Q and σ at 1.2 × its true value, every exponent at 0.85 (our fit's starting
    exponent; 1.2 × the true 0.85–0.95 would break the bound α ≤ 1). This is information
    our fit does not get.

A spectrum counts as within 5 % if R_ct (the lowest-frequency arc's R) and the electrolyte's
R0 + R_b + R_gb (what σ is computed from, determined where its terms are not: a sulfide's
bulk arc lies above the window) are both within 5 % of the truth. Our fit names the arcs
from the low-frequency end, so that arc is ``R_ct_ohm``; impedance.py's arcs are unordered,
so its lowest-frequency arc is the one of lowest characteristic frequency (R·Q)^(−1/α), the
electrolyte the rest. A fit that raises (impedance.py, pyimpspec) or is not converged (ours)
counts as a miss.

    .venv/bin/python benchmarks/eis_fit.py [--spectra 10] [--pressures 6 25 100]
                                           [--guess spectrum|truth] [--pyimpspec]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from impedance.models.circuits import CustomCircuit
from scipy.optimize import OptimizeWarning
from threadpoolctl import threadpool_limits

from acq.analysis.eis_fit import _drt_start, fit_spectrum, parameter_names
from acq.analysis.eis_validity import drt, kk_test
from benchmarks.figures import Figure
from conventions.impedance import sweep_frequencies_Hz
from simulated_devices.physics.impedance import (
    EquivalentCircuit,
    circuit_at,
    measured_spectrum,
)
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters

T = TypeVar("T")
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


def spectrum_guess(z: np.ndarray) -> list[float]:
    """Our fit's start read off the spectrum (its DRT), as values in `OURS` order."""
    names = parameter_names(OURS)
    start = _drt_start(FREQUENCIES_HZ, z, names, drt(FREQUENCIES_HZ, z.real, z.imag))
    if start is None:
        raise ValueError("the spectrum's DRT resolves no arc")
    return [
        value if name.startswith("n_") else math.exp(value)
        for name, value in zip(names, start, strict=True)
    ]


def fit_impedance_py(z: np.ndarray, guess: list[float]) -> np.ndarray | None:
    """impedance.py's fit from ``guess``, None if it raises."""
    circuit = CustomCircuit(THEIRS, initial_guess=guess)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            circuit.fit(FREQUENCIES_HZ, z)
    except (RuntimeError, ValueError):
        return None
    return np.asarray(circuit.parameters_)


def fit_pyimpspec(z: np.ndarray, guess: list[float]) -> np.ndarray | None:
    """pyimpspec's fit from ``guess`` as a vector in `OURS` order, None if it fails."""
    from pyimpspec import DataSet, fit_circuit, parse_cdc

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
            circuit,
            DataSet(FREQUENCIES_HZ, z),
            method="least_squares",
            weight="modulus",
            num_procs=1,
        ).circuit
    except (RuntimeError, ValueError):
        return None
    r0, *arcs, warburg = fitted.get_elements()
    values = [r0.get_value("R")]
    for resistor, cpe in zip(arcs[::2], arcs[1::2], strict=True):
        values += [resistor.get_value("R"), cpe.get_value("Y"), cpe.get_value("n")]
    values.append(1.0 / (warburg.get_value("Y") * math.sqrt(2.0)))
    return np.asarray(values)


def resistances(parameters: np.ndarray) -> tuple[float, float]:
    """(R of the arc of lowest characteristic frequency (R·Q)^(−1/α), R0 + the other arcs'
    R) of a fitted vector in `OURS` order."""

    def log_frequency(arc: tuple[int, int, int]) -> float:
        r, q, alpha = parameters[list(arc)]
        return -math.log(max(r * q, sys.float_info.min)) / alpha

    lowest = min(ARCS, key=log_frequency)
    others = sum(float(parameters[arc[0]]) for arc in ARCS if arc != lowest)
    return float(parameters[lowest[0]]), float(parameters[0]) + others


def validity(z: np.ndarray) -> None:
    """The KK test and DRT `fit_spectrum` reports with every fit, alone."""
    kk_test(FREQUENCIES_HZ, z.real, z.imag)
    drt(FREQUENCIES_HZ, z.real, z.imag)


def timed(call: Callable[[], T]) -> tuple[T, tuple[float, float]]:
    """(``call()``, (its CPU seconds, its wall seconds)). The figures use CPU time: on this
    shared machine wall time is mostly waiting for a core (`main` prints both)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, (time.process_time() - cpu, time.perf_counter() - wall)


@dataclass
class Fitter:
    """One fitter's record over the spectra: CPU and wall seconds per spectrum and, per
    spectrum, the pressure and the relative errors of R_ct and of R0 + R_b + R_gb (NaN for
    a miss)."""

    seconds: list[float] = field(default_factory=list)
    wall_seconds: list[float] = field(default_factory=list)
    errors: list[tuple[float, float, float]] = field(default_factory=list)

    def add(
        self,
        seconds: tuple[float, float],
        pressure: float,
        r_ct: float,
        electrolyte: float,
        truth: EquivalentCircuit,
    ) -> None:
        self.seconds.append(seconds[0])
        self.wall_seconds.append(seconds[1])
        true_electrolyte = truth.R0_ohm + truth.R_b_ohm + truth.R_gb_ohm
        self.errors.append(
            (pressure, r_ct / truth.R_ct_ohm - 1, electrolyte / true_electrolyte - 1)
        )

    def within(self, pressure: float | None = None) -> tuple[int, int]:
        """(spectra with both errors within `TOLERANCE`, spectra) at ``pressure`` (None:
        all); a NaN error, a miss, is not within."""
        chosen = [(ct, el) for p, ct, el in self.errors if pressure is None or p == pressure]
        inside = sum(abs(ct) <= TOLERANCE and abs(el) <= TOLERANCE for ct, el in chosen)
        return inside, len(chosen)


def compare(
    spectra: int, pressures: list[float], guess: str, pyimpspec: bool
) -> dict[str, Fitter]:
    """Fit ``spectra`` spectra (pressures in turn) with ours, impedance.py and, if
    ``pyimpspec``, pyimpspec; also time the KK test and DRT alone (``kk+drt``)."""
    params = CellParameters()
    truths = {p: circuit_at(microstructure_at(p, params), params) for p in pressures}
    names = ["acq fit_spectrum", "kk+drt", "impedance.py"] + (["pyimpspec"] if pyimpspec else [])
    fitters = {name: Fitter() for name in names}
    nan = math.nan
    for seed in range(spectra):
        pressure = pressures[seed % len(pressures)]
        truth = truths[pressure]
        z = measured_spectrum(truth, FREQUENCIES_HZ, NOISE, np.random.default_rng(seed))

        ours, seconds = timed(partial(fit_spectrum, FREQUENCIES_HZ, z.real, z.imag, OURS))
        r_ct = ours.parameters["R_ct_ohm"].value if ours.converged else nan
        total = ours.sum_of(["R0_ohm", "R_b_ohm", "R_gb_ohm"]).value if ours.converged else nan
        fitters["acq fit_spectrum"].add(seconds, pressure, r_ct, total, truth)

        _, seconds = timed(partial(validity, z))
        fitters["kk+drt"].add(seconds, pressure, nan, nan, truth)

        start = truth_guess(truth) if guess == "truth" else spectrum_guess(z)
        others = [("impedance.py", fit_impedance_py)]
        others += [("pyimpspec", fit_pyimpspec)] if pyimpspec else []
        for name, fit in others:
            theirs, seconds = timed(partial(fit, z, start))
            r_ct, total = (nan, nan) if theirs is None else resistances(theirs)
            fitters[name].add(seconds, pressure, r_ct, total, truth)
    return fitters


def figures(quick: bool) -> list[Figure]:
    """The EIS fit's figures of issue 13: median time per spectrum, its speed-up over
    impedance.py given the same spectrum only, and the spectra with every resistance within
    5 %; ``quick``: 3 spectra (one per pressure) instead of 10."""
    spectra = 3 if quick else 10
    with threadpool_limits(limits=1, user_api="blas"):  # as the analysis worker runs
        fitters = compare(spectra, [6.0, 25.0, 100.0], "spectrum", pyimpspec=False)
    ours, theirs = fitters["acq fit_spectrum"], fitters["impedance.py"]
    ours_ms = 1e3 * float(np.median(ours.seconds))
    theirs_ms = 1e3 * float(np.median(theirs.seconds))
    validity_ms = 1e3 * float(np.median(fitters["kk+drt"].seconds))
    circuit_ms = 1e3 * float(
        np.median(np.array(ours.seconds) - np.array(fitters["kk+drt"].seconds))
    )
    wall_ms = 1e3 * float(np.median(ours.wall_seconds))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    inside, total = ours.within()
    theirs_inside, _ = theirs.within()
    return [
        Figure(
            "EIS fit, median per spectrum",
            ours_ms,
            "ms",
            10.0,
            "lower",
            anchor="CPU time of all of fit_spectrum",
            detail=(
                f"{spectra} spectra, one BLAS thread as in the worker; of it the KK test + "
                f"DRT {validity_ms:.1f} ms, the circuit fit {circuit_ms:.1f} ms; "
                f"wall {wall_ms:.0f} ms; load {load}"
            ),
        ),
        Figure(
            "EIS fit ÷ impedance.py from the spectrum",
            theirs_ms / ours_ms,
            "×",
            100.0,
            "higher",
            anchor="impedance.py CustomCircuit from our start, same spectra, same run",
            detail=(
                f"CPU median {theirs_ms:.0f} ms against {ours_ms:.1f} ms "
                f"({theirs_ms / circuit_ms:.0f}× our circuit fit alone); load {load}"
            ),
        ),
        Figure(
            "EIS fit, spectra with every resistance within 5 %",
            inside / total,
            "fraction",
            1.0,
            "higher",
            anchor="the simulation's true circuit",
            detail=(
                f"{inside}/{total} (R_ct and R0 + R_b + R_gb); impedance.py "
                f"{theirs_inside}/{total}"
            ),
        ),
    ]


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
        choices=("spectrum", "truth"),
        default="spectrum",
        help="impedance.py's and pyimpspec's initial guess (see above)",
    )
    parser.add_argument(
        "--pyimpspec", action="store_true", help="compare pyimpspec too (the bench extra)"
    )
    args = parser.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):  # as the analysis worker runs
        fitters = compare(args.spectra, args.pressures, args.guess, args.pyimpspec)
    print(
        f"{args.spectra} spectra of {FREQUENCIES_HZ.size} points, {100 * NOISE:g} % noise, "
        f"default cell at {', '.join(f'{p:g}' for p in args.pressures)} MPa; "
        f"impedance.py's guess: {args.guess}; load average {os.getloadavg()}"
    )
    print(
        f"{'fitter':18} {'CPU median/ms':>13} {'max/ms':>7} {'wall median/ms':>14} "
        f"{'both ±5 %':>10} {'per pressure':>18} {'median |ΔR_ct|':>15} {'|ΔR_el|':>8}"
    )
    ours = np.median(fitters["acq fit_spectrum"].seconds)
    for name, fitter in fitters.items():
        times = 1e3 * np.array(fitter.seconds)
        wall = 1e3 * np.median(fitter.wall_seconds)
        timing = f"{name:18} {np.median(times):13.1f} {times.max():7.1f} {wall:14.1f}"
        if name == "kk+drt":
            print(f"{timing}  (part of acq fit_spectrum)")
            continue
        by_pressure = " ".join("{}/{}".format(*fitter.within(p)) for p in args.pressures)
        ct = np.nanmedian([abs(error) for _, error, _ in fitter.errors])
        electrolyte = np.nanmedian([abs(error) for _, _, error in fitter.errors])
        print(
            f"{timing} {'{}/{}'.format(*fitter.within()):>10} {by_pressure:>18} "
            f"{100 * ct:14.2f}% {100 * electrolyte:7.2f}%"
        )
    for name in fitters:
        if name not in ("acq fit_spectrum", "kk+drt"):
            ratio = np.median(fitters[name].seconds) / ours
            print(f"median CPU time, {name} ÷ acq fit_spectrum: {ratio:.1f}")


if __name__ == "__main__":
    main()
