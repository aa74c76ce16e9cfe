"""Impedance spectroscopy as the station's potentiostat does it.

The potentiostat sweeps log-spaced frequencies from a first to a last one, both included, at a
number of points per decade (the BioLogic PEIS convention), and returns at most
`MAX_SPECTRUM_POINTS` points in fixed-length result waveforms. The IOC computes the grid, the
device predicts a sweep's duration from it, the plans check a sweep fits before it runs.
"""

from __future__ import annotations

import math

import numpy as np

#: Frequencies the potentiostat can apply, Hz.
FREQUENCY_RANGE_HZ = (1e-3, 7e6)
#: Most points one spectrum may hold (the length of the result waveforms).
MAX_SPECTRUM_POINTS = 512
#: The equivalent circuit spectra are fitted to unless the station config names another:
#: leads, bulk, grain-boundary and charge-transfer arcs (R‖CPE) and a Warburg tail.
DEFAULT_CIRCUIT = "R0-RQ-RQ-RQ-W"
#: How closely recorded frequencies must agree with a sweep's to be its frequencies, relative:
#: instrument files print 6 or 7 significant digits, and the nearest other sweep (one point
#: per decade more) is percents away.
RECORDED_FREQUENCY_RTOL = 1e-5


def sweep_points(start_Hz: float, stop_Hz: float, points_per_decade: int) -> int:
    """Frequencies in a sweep from ``start_Hz`` to ``stop_Hz`` (either order), both ends
    included."""
    decades = abs(math.log10(stop_Hz / start_Hz))
    return max(round(decades * points_per_decade) + 1, 2)


def sweep_frequencies_Hz(start_Hz: float, stop_Hz: float, points_per_decade: int) -> np.ndarray:
    """The frequencies of a sweep, in the order applied, Hz.

    Raises
    ------
    ValueError
        If a frequency is not positive or ``points_per_decade`` < 1.
    """
    if not (start_Hz > 0 and stop_Hz > 0):
        raise ValueError(f"frequencies must be positive, got {start_Hz} and {stop_Hz} Hz")
    if points_per_decade < 1:
        raise ValueError(f"points per decade must be ≥ 1, got {points_per_decade}")
    return np.logspace(
        math.log10(start_Hz),
        math.log10(stop_Hz),
        sweep_points(start_Hz, stop_Hz, points_per_decade),
    )
