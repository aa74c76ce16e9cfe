"""Parallel-beam CT reconstruction: flat/dark correction and filtered back-projection.

Geometry: the rotation axis is the detector's centre column, ``(columns - 1) / 2``; each
detector row is one z-slice, reconstructed on a square (y, x) grid of ``columns`` pixels
restricted to the inscribed cylinder. A projection at angle θ holds the line integrals along
y of the slice rotated by θ, so the point (y, x) of a slice falls on the detector at
``c + cos θ · (x - c) + sin θ · (y - c)``. This is scikit-image's ``radon`` with angle −θ,
hence ``skimage.transform.iradon(sinogram.T, theta=-angles_deg, filter_name="ramp")`` is the
reference reconstruction of one slice.

Why not ``iradon`` itself: it back-projects one slice at a time with `numpy.interp`, about
0.16 s per 256² slice at 361 angles, so 10 s for the 64 slices of the demo's scan before any
analysis. Every slice shares the same geometry, so here the back-projection is one sparse
(pixels × angles·columns) linear-interpolation operator applied to all slices at once as a
sparse × dense product, built in chunks of angles (to bound memory) on the other cores' threads
while the product of the chunks already built runs (`scipy.sparse` holds the GIL, NumPy building
the next chunk does not). The filter is scikit-image's ramp (the band-limited Ram-Lak kernel
sampled in real space, which keeps the mean right), applied by `scipy.fft` in float32 per
slab of angles on every core, and each angle is weighted by the angular interval it stands
for, so irregular angles — latched encoder positions of a fly scan — and a redundant 180°
projection are integrated correctly. `benchmarks/ct_analysis.py` measures it against
``iradon`` and how it grows with projections and detector width: the cost is the product's,
about proportional to pixels × projections × slices.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from scipy import fft, sparse

from conventions.voxels import cylinder_mask

from .slabs import WORKERS, map_slabs

#: Lower bound of the flat/dark-corrected transmission before the logarithm (dimensionless).
MIN_TRANSMISSION = 1e-3
#: Lower bound of flat − dark, counts (a dead pixel must not divide by zero).
MIN_FLAT_COUNTS = 1.0
#: Shortest zero-padded length of the filtered detector rows, pixels.
MIN_PADDED_COLUMNS = 64
#: Slabs of angles the ramp filter works on (on `WORKERS` threads); small slabs stay in cache.
FILTER_SLABS = 64
#: Entries per chunk of angles of the back-projection operator (8 bytes each: ~64 MB).
OPERATOR_ENTRIES_PER_CHUNK = 1 << 23
#: Span of angles of a complete parallel-beam scan, degrees.
HALF_TURN_DEG = 180.0


def line_integrals(projections: np.ndarray, darks: np.ndarray, flats: np.ndarray) -> np.ndarray:
    """Flat/dark-corrected line integrals −ln((P − D) / (F − D)).

    Parameters
    ----------
    projections
        Sample frames (N, Y, X), counts.
    darks, flats
        Dark (beam off) and flat (open beam) frames (M, Y, X), counts; each is averaged.

    Returns
    -------
    np.ndarray
        float32 (N, Y, X) line integrals Σ μ·Δx (dimensionless); the transmission is clipped
        below at `MIN_TRANSMISSION`, flat − dark at `MIN_FLAT_COUNTS`.
    """
    dark = darks.mean(axis=0, dtype=np.float64).astype(np.float32)
    open_beam = np.maximum(flats.mean(axis=0, dtype=np.float64) - dark, MIN_FLAT_COUNTS)
    scale = (1.0 / open_beam).astype(np.float32)
    result = np.empty(projections.shape, dtype=np.float32)

    def correct(rows: slice) -> None:
        out = result[:, rows]
        np.subtract(projections[:, rows], dark[rows], out=out, dtype=np.float32)
        out *= scale[rows]
        np.maximum(out, MIN_TRANSMISSION, out=out)
        np.log(out, out=out)
        np.negative(out, out=out)

    map_slabs(correct, projections.shape[1])
    return result


def ramp_filter(padded_columns: int) -> np.ndarray:
    """Frequency response of the ramp filter on an ``rfft`` grid (scikit-image's 'ramp').

    The band-limited ramp kernel is sampled in real space, then transformed, so the filter's
    zero-frequency response is right (no DC offset in the reconstruction).
    """
    odd = np.concatenate(
        (np.arange(1, padded_columns // 2 + 1, 2), np.arange(padded_columns // 2 - 1, 0, -2))
    )
    kernel = np.zeros(padded_columns)
    kernel[0] = 0.25
    kernel[1::2] = -1.0 / (np.pi * odd) ** 2
    return np.real(np.fft.rfft(kernel))


def filter_rows(sinograms: np.ndarray) -> np.ndarray:
    """Ramp-filter every detector row of (N, Y, X) float32 line integrals along X (float32)."""
    columns = sinograms.shape[-1]
    padded = max(MIN_PADDED_COLUMNS, 1 << int(np.ceil(np.log2(2 * columns))))
    response = ramp_filter(padded).astype(np.float32)
    result = np.empty(sinograms.shape, dtype=np.float32)

    def work(angles: slice) -> None:
        # scipy.fft keeps float32 in single precision (numpy.fft would not).
        spectrum = fft.rfft(sinograms[angles], n=padded, axis=-1)
        spectrum *= response
        result[angles] = fft.irfft(spectrum, n=padded, axis=-1)[..., :columns]

    map_slabs(work, len(sinograms), count=FILTER_SLABS)
    return result


def angle_weights_rad(angles_deg: np.ndarray) -> np.ndarray:
    """Angular interval each projection stands for, radians (they sum to π).

    Projections θ and θ + 180° see the same lines, so the angles are folded onto [0°, 180°)
    and each gets half the gaps to its two neighbours on that circle: uniform steps give
    equal weights, and the two ends of an inclusive 0–180° scan share one step.
    """
    folded = np.mod(np.asarray(angles_deg, dtype=np.float64), HALF_TURN_DEG)
    order = np.argsort(folded, kind="stable")
    ordered = folded[order]
    gaps = np.diff(np.append(ordered, ordered[0] + HALF_TURN_DEG))
    weights = np.empty_like(ordered)
    weights[order] = 0.5 * (gaps + np.roll(gaps, 1))
    return np.deg2rad(weights)


def _backprojection_chunk(
    pixel_y: np.ndarray,
    pixel_x: np.ndarray,
    columns: int,
    angles_deg: np.ndarray,
    weights_rad: np.ndarray,
    first_row: int,
    total_rows: int,
) -> sparse.csr_matrix:
    """Sparse (pixels, total_rows) operator back-projecting a chunk of angles.

    Row ``first_row + a·columns + j`` of a filtered sinogram matrix is detector column j of
    the chunk's angle a; each pixel takes the linear interpolation between the two columns
    either side of where it projects, times the angle's weight. Built in float32 straight
    into the CSR arrays (pixel-major, as its rows want it), without temporaries per entry.
    """
    centre = (columns - 1) / 2.0
    theta = np.deg2rad(angles_deg)
    # (pixels, angles): where each pixel falls on the detector.
    position = np.multiply.outer(
        (pixel_x - centre).astype(np.float32), np.cos(theta, dtype=np.float32)
    )
    position += np.multiply.outer(
        (pixel_y - centre).astype(np.float32), np.sin(theta, dtype=np.float32)
    )
    position += np.float32(centre)
    left = np.floor(position)
    np.clip(left, 0, columns - 2, out=left)
    position -= left  # now the share of the right-hand column
    index_type = np.int32 if total_rows < np.iinfo(np.int32).max else np.int64
    cols = np.empty((*position.shape, 2), dtype=index_type)
    cols[..., 0] = left
    cols[..., 0] += (first_row + columns * np.arange(len(angles_deg))).astype(index_type)
    np.add(cols[..., 0], 1, out=cols[..., 1])
    weight = weights_rad.astype(np.float32)
    values = np.empty((*position.shape, 2), dtype=np.float32)
    np.multiply(position, weight, out=values[..., 1])
    np.subtract(weight, values[..., 1], out=values[..., 0])
    per_pixel = 2 * len(angles_deg)
    indptr = np.arange(0, pixel_y.size * per_pixel + 1, per_pixel, dtype=np.int64)
    return sparse.csr_matrix(
        (values.reshape(-1), cols.reshape(-1), indptr), shape=(pixel_y.size, total_rows)
    )


def backproject(filtered: np.ndarray, angles_deg: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Back-project ramp-filtered line integrals onto the pixels of a slice mask.

    The operator is built chunk by chunk of angles (at most `OPERATOR_ENTRIES_PER_CHUNK`
    entries each) on `WORKERS` − 1 threads while this one multiplies the chunks already built
    (the sparse product holds the GIL, the building does not); at most `WORKERS` chunks wait.

    Parameters
    ----------
    filtered
        Filtered line integrals (N, Y, X) (`filter_rows`).
    angles_deg
        Rotation angle of each projection, degrees.
    inside
        Boolean (X, X) mask of the pixels to reconstruct.

    Returns
    -------
    np.ndarray
        float32 (Y, pixels) attenuation per voxel (μ·Δx) at the mask's pixels, in
        ``np.nonzero(inside)`` order.
    """
    n_angles, rows, columns = filtered.shape
    pixel_y, pixel_x = np.nonzero(inside)
    weights = angle_weights_rad(angles_deg)
    # (angle·column, slice): one column per slice, so one sparse product serves all slices.
    stacked = np.ascontiguousarray(filtered.transpose(0, 2, 1)).reshape(n_angles * columns, rows)
    result = np.zeros((pixel_y.size, rows), dtype=np.float32)
    per_chunk = max(1, OPERATOR_ENTRIES_PER_CHUNK // (2 * max(pixel_y.size, 1)))

    def build(start: int) -> sparse.csr_matrix:
        chunk = slice(start, min(start + per_chunk, n_angles))
        return _backprojection_chunk(
            pixel_y,
            pixel_x,
            columns,
            angles_deg[chunk],
            weights[chunk],
            start * columns,
            n_angles * columns,
        )

    pending: deque[Future[sparse.csr_matrix]] = deque()
    with ThreadPoolExecutor(max(1, WORKERS - 1)) as pool:
        for start in range(0, n_angles, per_chunk):
            pending.append(pool.submit(build, start))
            if len(pending) > WORKERS:
                result += pending.popleft().result() @ stacked
        while pending:
            result += pending.popleft().result() @ stacked
    return np.ascontiguousarray(result.T)


def reconstruct(
    projections: np.ndarray, darks: np.ndarray, flats: np.ndarray, angles_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Filtered back-projection of every detector row, inside the inscribed cylinder.

    Parameters
    ----------
    projections
        Sample frames (N, Y, X), counts; Y = z-slices, X = detector columns.
    darks, flats
        Dark and flat frames (M, Y, X), counts.
    angles_deg
        Rotation angle of each projection, degrees (covering 180°).

    Returns
    -------
    volume
        float32 (Y, X, X) attenuation per voxel (μ·Δx, dimensionless), 0 outside the cylinder.
    inside
        Boolean (X, X) mask of the cylinder.
    """
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    if projections.ndim != 3 or angles_deg.shape != projections.shape[:1]:
        raise ValueError(
            f"need (N, Y, X) projections and N angles, got {projections.shape} "
            f"and {angles_deg.shape} angles"
        )
    for name, frames in (("darks", darks), ("flats", flats)):
        if frames.ndim != 3 or frames.shape[1:] != projections.shape[1:] or not len(frames):
            raise ValueError(
                f"{name} must be (M ≥ 1, {projections.shape[1]}, "
                f"{projections.shape[2]}) frames, got {frames.shape}"
            )
    rows, columns = projections.shape[1:]
    inside = cylinder_mask(columns)
    filtered = filter_rows(line_integrals(projections, darks, flats))
    volume = np.zeros((rows, columns, columns), dtype=np.float32)
    volume[:, inside] = backproject(filtered, angles_deg, inside)
    return volume, inside
