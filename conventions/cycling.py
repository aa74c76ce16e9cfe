"""Galvanostatic cycling as the station's potentiostat records it, and when it has failed.

A half cycle's voltage, current and time are recorded at a fixed interval into result
waveforms of `TRACE_BUFFER_POINTS` (NaN-padded past the last point). A half cycle whose
polarisation collapses towards zero has been shorted by a lithium dendrite (docs/science.md,
"Symmetric cells and critical current density"): the plans stop a staircase there and the
analysis classifies the failure, both by `voltage_collapsed`.
"""

from __future__ import annotations

import numpy as np

#: Points the potentiostat's trace waveforms hold.
TRACE_BUFFER_POINTS = 4096
#: Polarisation fall within a half cycle that counts as a collapse (fraction of its peak).
COLLAPSE_FRACTION = 0.2


def voltage_collapsed(voltage_V: np.ndarray, fraction: float = COLLAPSE_FRACTION) -> bool:
    """Whether a half cycle's polarisation fell to ``fraction`` of its peak by its end
    (NaN padding ignored; fewer than four points never count)."""
    magnitude = np.abs(voltage_V[np.isfinite(voltage_V)])
    return magnitude.size > 3 and bool(magnitude[-1] < fraction * magnitude.max())
