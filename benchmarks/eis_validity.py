"""`acq.analysis.eis_validity` (KK test, DRT) per spectrum beside impedance.py's ``linKK`` and
pyimpspec's ``perform_kramers_kronig_test``.

Spectra as `benchmarks/eis_fit.py` makes them: the default (sulfide) cell's true circuit at
each of ``--pressures``, 1 MHz–0.1 Hz at 10 points a decade, 0.5 % proportional noise, seed k
for spectrum k. impedance.py's ``linKK`` is called as `kk_test` works, once with and once
without the series capacitance (``add_cap``), ``fit_type='complex'``, c = 0.85; its own
M % 10 progress print is silenced. It stops at the first M where µ ≤ 0.85, `kk_test` at the
fewest from which on µ stays there, so residuals are compared at linKK's M
(``kk_test(..., elements=M)``) and how often the two rules agree is counted.

pyimpspec (the ``bench`` extra, pyproject.toml) is called twice, in one process:

- at our M, on the same model (``test='complex'``, series C and L, impedance representation,
  τ from 1/ω_max to 1/ω_min: ``log_F_ext=0``, ``num_F_ext_evaluations=0``), timed beside
  one `kk_test` fit at that M (``capacitance=True, elements=M``), for the agreement of the
  relative residuals. These differ by a few tenths of a percent of |Z|: pyimpspec's
  least-squares complex test fits Z unweighted, where linKK and `kk_test` weigh each point by
  1/|Z| as the instrument's proportional noise is;
- as it runs by default (``perform_kramers_kronig_test(data)``: the ``real`` test, M chosen
  from the curvatures of the fitted spectra, the τ range optimised, impedance and admittance
  both tried), for its time, its M and its largest residual.

Printed: median and max wall time per spectrum of each (`kk_test` and linKK: both variants,
with and without C); the ratios of the median times;
the largest differences of the relative residuals; how many spectra chose the same M; DRT
peaks.

    .venv/bin/python benchmarks/eis_validity.py [--spectra 10] [--pressures 6 25 100]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from impedance.validation import linKK
from pyimpspec import DataSet, perform_kramers_kronig_test

from acq.analysis.eis_validity import drt, kk_test
from conventions.impedance import sweep_frequencies_Hz
from simulated_devices.physics.impedance import circuit_at, measured_spectrum
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters

NOISE = 0.005
FREQUENCIES_HZ = sweep_frequencies_Hz(1e6, 0.1, 10)


def impedance_py_kk(z: np.ndarray, capacitance: bool) -> tuple[int, np.ndarray, np.ndarray]:
    """(M, real residuals, imaginary residuals) of impedance.py's linKK."""
    # It formats its fit as Python source to evaluate; numpy 2's scalar repr breaks that.
    with np.printoptions(legacy="1.25"), contextlib.redirect_stdout(io.StringIO()):
        elements, _, _, real, imag = linKK(
            FREQUENCIES_HZ, z, c=0.85, max_M=50, fit_type="complex", add_cap=capacitance
        )
    return elements, real, imag


def pyimpspec_kk(z: np.ndarray, elements: int | None) -> tuple[int, np.ndarray, np.ndarray]:
    """(M, real residuals, imaginary residuals) of pyimpspec's KK test, relative: at
    ``elements`` RC elements on our model, or (None) as it runs by default."""
    data = DataSet(FREQUENCIES_HZ, z)
    if elements is None:
        result = perform_kramers_kronig_test(data, num_procs=1)
    else:
        result = perform_kramers_kronig_test(
            data,
            test="complex",
            num_RC=elements,
            add_capacitance=True,
            add_inductance=True,
            admittance=False,
            log_F_ext=0.0,
            num_F_ext_evaluations=0,
            num_procs=1,
        )
    _, real_percent, imag_percent = result.get_residuals_data()
    return result.num_RC, real_percent / 100, imag_percent / 100


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spectra", type=int, default=10)
    parser.add_argument("--pressures", type=float, nargs="+", default=[6.0, 25.0, 100.0])
    args = parser.parse_args()
    params = CellParameters()
    truths = {p: circuit_at(microstructure_at(p, params), params) for p in args.pressures}
    seconds: dict[str, list[float]] = {
        "acq kk_test": [],
        "impedance.py linKK": [],
        "acq kk_test at M": [],
        "pyimpspec at our M": [],
        "pyimpspec default": [],
        "acq drt": [],
    }
    differences = {"impedance.py": 0.0, "pyimpspec": 0.0}
    same_m, pyimpspec_m, pyimpspec_max, peaks = 0, [], [], []
    for seed in range(args.spectra):
        truth = truths[args.pressures[seed % len(args.pressures)]]
        z = measured_spectrum(truth, FREQUENCIES_HZ, NOISE, np.random.default_rng(seed))
        ours, theirs = 0.0, 0.0
        for capacitance in (True, False):
            started = time.perf_counter()
            test = kk_test(FREQUENCIES_HZ, z.real, z.imag, capacitance=capacitance)
            ours += time.perf_counter() - started
            started = time.perf_counter()
            elements, real, imag = impedance_py_kk(z, capacitance)
            theirs += time.perf_counter() - started
            same_m += test.elements == elements
            at_m = kk_test(FREQUENCIES_HZ, z.real, z.imag, capacitance, elements)
            difference = np.abs(np.r_[at_m.residual_real - real, at_m.residual_imag - imag])
            differences["impedance.py"] = max(differences["impedance.py"], difference.max())
        seconds["acq kk_test"].append(ours)
        seconds["impedance.py linKK"].append(theirs)
        elements = kk_test(FREQUENCIES_HZ, z.real, z.imag, capacitance=True).elements
        started = time.perf_counter()
        test = kk_test(FREQUENCIES_HZ, z.real, z.imag, capacitance=True, elements=elements)
        seconds["acq kk_test at M"].append(time.perf_counter() - started)
        started = time.perf_counter()
        _, real, imag = pyimpspec_kk(z, elements)
        seconds["pyimpspec at our M"].append(time.perf_counter() - started)
        difference = np.r_[test.residual_real - real, test.residual_imag - imag]
        differences["pyimpspec"] = max(differences["pyimpspec"], np.abs(difference).max())
        started = time.perf_counter()
        elements, real, imag = pyimpspec_kk(z, None)
        seconds["pyimpspec default"].append(time.perf_counter() - started)
        pyimpspec_m.append(elements)
        pyimpspec_max.append(float(np.abs(np.r_[real, imag]).max()))
        started = time.perf_counter()
        peaks.append(drt(FREQUENCIES_HZ, z.real, z.imag).peaks)
        seconds["acq drt"].append(time.perf_counter() - started)
    print(
        f"{args.spectra} spectra of {FREQUENCIES_HZ.size} points, {100 * NOISE:g} % noise, "
        f"default cell at {', '.join(f'{p:g}' for p in args.pressures)} MPa"
    )
    for name, times in seconds.items():
        print(f"{name:20} median {1e3 * np.median(times):8.2f} ms, max {1e3 * max(times):8.2f} ms")
    for name, ours in (
        ("impedance.py linKK", "acq kk_test"),
        ("pyimpspec default", "acq kk_test"),
        ("pyimpspec at our M", "acq kk_test at M"),
    ):
        ratio = np.median(seconds[name]) / np.median(seconds[ours])
        print(f"median KK time, {name} ÷ {ours}: {ratio:.2g}")
    for name, largest in differences.items():
        print(f"largest |Δ relative residual| vs {name} at the same M: {largest:.1e}")
    print(f"same M as linKK's first µ ≤ 0.85: {same_m}/{2 * args.spectra}; DRT peaks: {peaks}")
    print(
        f"pyimpspec default: M {pyimpspec_m}, largest relative residual median "
        f"{100 * np.median(pyimpspec_max):.2f} %, max {100 * max(pyimpspec_max):.2f} %"
    )


if __name__ == "__main__":
    main()
