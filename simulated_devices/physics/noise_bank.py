"""Standard normal deviates for detector frames too large to draw afresh for every frame.

Drawing 4 M normal deviates (a 2048² frame) takes most of the frame's exposure
(0.05 s), and 4 M Poisson deviates three times that. A `NormalBank` draws two frames' worth
once, then per frame renews a 32nd of them (in turn) and hands out a window at a random
offset: each frame's noise is standard normal pixel to pixel, the same deviates recurring in
later frames only shifted, and every deviate is renewed within 32 frames.

Nothing here imports the rest of the project or EPICS.
"""

from __future__ import annotations

import math

import numpy as np

#: Frames' worth of deviates the bank holds.
BANK_FRAMES = 2
#: Part of the bank renewed per frame.
RENEWED_PER_FRAME = 1 / 32


class NormalBank:
    """Frames of standard normal deviates (float32) at a fraction of a fresh draw's cost.

    Parameters
    ----------
    size
        Deviates per frame (pixels).
    rng
        Random generator: the bank, its renewals and the windows' offsets are drawn from it.
    """

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self._rng = rng
        self._bank = rng.standard_normal(BANK_FRAMES * size, dtype=np.float32)
        self._renewed = math.ceil(self._bank.size * RENEWED_PER_FRAME)
        self._next = 0

    def draw(self) -> np.ndarray:
        """One frame's deviates, shape (``size``,): a read-only view into the bank, valid until
        the next call."""
        block = self._bank[self._next : self._next + self._renewed]
        self._rng.standard_normal(dtype=np.float32, out=block)
        self._next = (self._next + self._renewed) % self._bank.size
        offset = int(self._rng.integers(0, self._bank.size - self.size + 1))
        window = self._bank[offset : offset + self.size].view()
        window.flags.writeable = False
        return window
