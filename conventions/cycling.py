"""Galvanostatic cycling as the station's potentiostat records it, and when it has failed.

A half cycle's voltage, current and time are recorded at a fixed interval into result
waveforms of `TRACE_BUFFER_POINTS` (NaN-padded past the last point). A half cycle whose
polarisation collapses towards zero has been shorted by a lithium dendrite (docs/science.md,
"Cycling"); one that ended at a cut-off or at the instrument's compliance could not carry its
current (a blocked interface). The plans stop a critical-current-density staircase at the first
such half cycle and the analysis reports it, both by `half_cycle_failure`.
"""

from __future__ import annotations

import numpy as np

from .pv_states import HalfCycleEnd

#: Points the potentiostat's trace waveforms hold.
TRACE_BUFFER_POINTS = 4096
#: Polarisation fall within a half cycle that counts as a collapse (fraction of its peak).
COLLAPSE_FRACTION = 0.2
#: How a critical-current-density half cycle ends when its interface is blocked: at a
#: cut-off, or at the instrument's compliance.
BLOCKED_ENDS = (HalfCycleEnd.UPPER_CUTOFF, HalfCycleEnd.LOWER_CUTOFF, HalfCycleEnd.COMPLIANCE)
#: What `half_cycle_failure` calls each failure, in the order it tells them apart.
SHORT_CIRCUIT, VOLTAGE_COLLAPSE, BLOCKED = "short_circuit", "voltage_collapse", "blocked"


def voltage_collapsed(voltage_V: np.ndarray, fraction: float = COLLAPSE_FRACTION) -> bool:
    """Whether a half cycle's polarisation fell to ``fraction`` of its peak by its end
    (NaN padding ignored; fewer than four points never count)."""
    magnitude = np.abs(voltage_V[np.isfinite(voltage_V)])
    return magnitude.size > 3 and bool(magnitude[-1] < fraction * magnitude.max())


def half_cycle_failure(
    termination_reason: str, voltage_V: np.ndarray, collapse_fraction: float = COLLAPSE_FRACTION
) -> str | None:
    """How a plating or stripping half cycle of a symmetric cell failed, if it did.

    Parameters
    ----------
    termination_reason
        Which limit ended it (`HalfCycleEnd`).
    voltage_V
        Its voltage trace, V (NaN padding ignored).
    collapse_fraction
        Polarisation fall that counts as a collapse (`voltage_collapsed`).

    Returns
    -------
    str or None
        `SHORT_CIRCUIT` (the instrument saw a short), `VOLTAGE_COLLAPSE` (a dendrite shorted
        the cell within the half cycle), `BLOCKED` (it ended at a cut-off or the compliance,
        `BLOCKED_ENDS`), or None.
    """
    if termination_reason == HalfCycleEnd.SHORT_CIRCUIT:
        return SHORT_CIRCUIT
    if voltage_collapsed(voltage_V, collapse_fraction):
        return VOLTAGE_COLLAPSE
    if termination_reason in BLOCKED_ENDS:
        return BLOCKED
    return None
