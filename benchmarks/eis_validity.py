"""`acq.analysis.eis_validity` (KK test, DRT) per spectrum beside impedance.py's ``linKK``.

Spectra as `benchmarks/eis_fit.py` makes them: the default (sulfide) cell's true circuit at
each of ``--pressures``, 1 MHz–0.1 Hz at 10 points a decade, 0.5 % proportional noise, seed k
for spectrum k. impedance.py's ``linKK`` is called as `kk_test` works, once with and once
without the series capacitance (``add_cap``), ``fit_type='complex'``, c = 0.85; its own
M % 10 progress print is silenced. Printed: median and max wall time per spectrum of our KK
test (both variants), of linKK (both variants), of our DRT, the ratio of the median KK times,
the largest difference of the relative residuals, and how many spectra chose the same M.

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spectra", type=int, default=10)
    parser.add_argument("--pressures", type=float, nargs="+", default=[6.0, 25.0, 100.0])
    args = parser.parse_args()
    params = CellParameters()
    truths = {p: circuit_at(microstructure_at(p, params), params) for p in args.pressures}
    seconds: dict[str, list[float]] = {"acq kk_test": [], "impedance.py linKK": [], "acq drt": []}
    largest_difference, same_m, peaks = 0.0, 0, []
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
            difference = np.abs(np.r_[test.residual_real - real, test.residual_imag - imag])
            largest_difference = max(largest_difference, float(difference.max()))
        seconds["acq kk_test"].append(ours)
        seconds["impedance.py linKK"].append(theirs)
        started = time.perf_counter()
        peaks.append(drt(FREQUENCIES_HZ, z.real, z.imag).peaks)
        seconds["acq drt"].append(time.perf_counter() - started)
    print(
        f"{args.spectra} spectra of {FREQUENCIES_HZ.size} points, {100 * NOISE:g} % noise, "
        f"default cell at {', '.join(f'{p:g}' for p in args.pressures)} MPa"
    )
    for name, times in seconds.items():
        print(f"{name:20} median {1e3 * np.median(times):8.2f} ms, max {1e3 * max(times):8.2f} ms")
    ratio = np.median(seconds["impedance.py linKK"]) / np.median(seconds["acq kk_test"])
    print(f"median KK time, impedance.py ÷ acq: {ratio:.1f}")
    print(f"largest |Δ relative residual|: {largest_difference:.1e}")
    print(f"same number of RC elements: {same_m}/{2 * args.spectra}; DRT peaks: {peaks}")


if __name__ == "__main__":
    main()
