"""Work on slabs of a volume in threads, one per core.

NumPy's ufuncs, FFTs with ``workers`` and `scipy.ndimage`'s filters release the GIL, so
independent slabs of a volume (the CT analysis's z-slices: the reconstruction and the blur
model are per slice) run in parallel on threads without copying the volume to processes.
`scipy.sparse` products do not release it (measured: two threads no faster than one).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Threads used: one per core.
WORKERS = os.cpu_count() or 1


def slabs(length: int, count: int = WORKERS) -> list[slice]:
    """``range(length)`` cut into at most ``count`` contiguous slices of near-equal size."""
    count = max(1, min(count, length))
    bounds = [length * k // count for k in range(count + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(bounds)]


def map_slabs(work: Callable[[slice], T], length: int, count: int = WORKERS) -> list[T]:
    """``work(slab)`` for the ``count`` `slabs` of ``range(length)``, on `WORKERS` threads.

    ``work`` must write only to its slab of any output. Returns the results in slab order;
    an exception in ``work`` is raised here. More slabs than threads keep each slab's
    temporaries small.
    """
    parts = slabs(length, count)
    if len(parts) == 1:
        return [work(parts[0])]
    with ThreadPoolExecutor(min(WORKERS, len(parts))) as pool:
        return list(pool.map(work, parts))
