"""Parallel-beam X-ray projections of a phantom and the detector that records them.

* `attenuation_volume`: attenuation per voxel (dimensionless μ·Δx) from the phantom's labels.
* `ParallelBeamProjector`: line integrals through the volume for a rotation about z — each
  z-slice rotated by the angle in its (y, x) plane (bilinear, about the slice centre, as
  ``scipy.ndimage.rotate(volume, angle, axes=(1, 2), order=1, reshape=False,
  mode="grid-constant")``) and summed along y. A projection at angle θ is skimage's
  ``radon``/``iradon`` angle −θ. The rotate-and-sum is one sparse linear operator per angle applied
  to all slices at once, which is what makes a 64 × 256 × 256 projection take milliseconds.
  For a detector finer than the volume (`phantom.phantom_imaging`), each projection is
  interpolated linearly to the detector's pixels (`linear_resampling`).
* `DetectorModel`: flat, dark and sample frames with a fixed gain map, Poisson photon noise,
  dark offset and readout noise, as UInt16 counts. A frame of more than
  `EXACT_NOISE_MAX_PIXELS` takes the normal approximation of the same noise (mean and
  variance kept; counts are ≥ the dark's 100, where it holds) from a `noise_bank.NormalBank`.

Nothing here imports the rest of the project or EPICS.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from scipy import sparse

from conventions.voxels import ACTIVE, ELECTROLYTE, OUTSIDE, VOID

from .noise_bank import NormalBank
from .parameters import ImagingParameters
from .phantom import Phantom

#: Largest count a UInt16 detector pixel holds.
UINT16_MAX = 65535
#: Readout noise of the detector, counts RMS (assumed).
READOUT_NOISE_COUNTS = 2.0
#: Pixel-to-pixel gain spread relative to the column-to-column spread (assumed).
PIXEL_GAIN_SHARE = 0.25
#: Largest frame, pixels, whose noise is drawn exactly (Poisson) for every frame: 4 M Poisson
#: deviates (a 2048² frame) take three times its 0.05 s exposure.
EXACT_NOISE_MAX_PIXELS = 1024 * 1024


def energy_scale(imaging: ImagingParameters) -> float:
    """Factor (reference_energy / beam_energy)³ of the photoelectric attenuation."""
    return (imaging.reference_energy_keV / imaging.beam_energy_keV) ** 3


def attenuation_volume(phantom: Phantom, imaging: ImagingParameters) -> np.ndarray:
    """Attenuation per voxel of a phantom.

    Parameters
    ----------
    phantom
        Labelled volume, axes (z, y, x).
    imaging
        Linear attenuation coefficients (1/cm) at ``reference_energy_keV``, beam energy (keV).

    Returns
    -------
    np.ndarray
        float32 array of the phantom's shape: μ (1/cm, scaled by
        (reference_energy_keV / beam_energy_keV)³) × voxel size (cm); 0 for `OUTSIDE` (air).
    """
    voxel_cm = phantom.voxel_size_um * 1e-4
    table = np.zeros(256, dtype=np.float32)
    scale = energy_scale(imaging) * voxel_cm
    table[VOID] = imaging.attenuation_void_per_cm * scale
    table[ELECTROLYTE] = imaging.attenuation_electrolyte_per_cm * scale
    table[ACTIVE] = imaging.attenuation_active_per_cm * scale
    table[OUTSIDE] = 0.0
    return table[phantom.labels]


def rotate_and_sum_operator(ny: int, nx: int, angle_deg: float) -> sparse.csr_matrix:
    """Sparse (nx, ny·nx) operator: bilinear rotation of a (y, x) slice, summed along y.

    The output pixel (y, x) samples the input at the point obtained by rotating (y, x) about
    the slice centre ((ny−1)/2, (nx−1)/2), as `scipy.ndimage.rotate` with ``order=1`` and
    ``mode="grid-constant"`` does: samples outside the slice count as 0.

    Built row by row in CSR order (output column x, then y, then the four neighbours), four
    entries per output pixel (those outside the slice weighing 0), so no sort is needed (at
    256², about 3× faster than building it from coordinates).
    """
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    xx, yy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")  # (nx, ny): by row
    dy, dx = yy - cy, xx - cx
    source_y = cos * dy + sin * dx + cy
    source_x = -sin * dy + cos * dx + cx
    y0, x0 = np.floor(source_y).astype(np.int64), np.floor(source_x).astype(np.int64)
    fy, fx = source_y - y0, source_x - x0
    weights = np.empty((nx, ny, 4), dtype=np.float32)
    columns = np.empty((nx, ny, 4), dtype=np.int32)
    neighbours = ((0, 1.0 - fy, 0, 1.0 - fx), (0, 1.0 - fy, 1, fx), (1, fy, 0, 1.0 - fx))
    for k, (oy, wy, ox, wx) in enumerate((*neighbours, (1, fy, 1, fx))):
        sy, sx = y0 + oy, x0 + ox
        valid = (sy >= 0) & (sy < ny) & (sx >= 0) & (sx < nx)
        weights[..., k] = np.where(valid, wy * wx, 0.0)
        columns[..., k] = np.where(valid, sy * nx + sx, 0)
    row_starts = np.arange(0, 4 * ny * nx + 1, 4 * ny, dtype=np.int32)
    return sparse.csr_matrix((weights.ravel(), columns.ravel(), row_starts), shape=(nx, ny * nx))


def linear_resampling(fine: int, coarse: int) -> sparse.csr_matrix:
    """Sparse (fine, coarse) linear interpolation from ``coarse`` samples to ``fine`` ones
    spanning the same length: fine sample i (centre at (i + ½)/fine of the length) takes the
    two coarse samples beside its centre, the end ones beyond the outermost centres."""
    position = np.clip((np.arange(fine) + 0.5) * coarse / fine - 0.5, 0.0, coarse - 1.0)
    below = np.minimum(np.floor(position).astype(np.int64), max(coarse - 2, 0))
    above = np.minimum(below + 1, coarse - 1)
    weight = (position - below).astype(np.float32)
    rows = np.arange(fine)
    return sparse.csr_matrix(
        (
            np.concatenate([1.0 - weight, weight]),
            (np.tile(rows, 2), np.concatenate([below, above])),
        ),
        shape=(fine, coarse),
    )


class ParallelBeamProjector:
    """Line integrals through an attenuation volume for rotations about z.

    Parameters
    ----------
    volume
        Attenuation per voxel, axes (z, y, x) (`attenuation_volume`).
    cache_size
        Number of per-angle operators kept (a scan repeating angles reuses them).
    frame_shape
        (rows, columns) of the detector, if finer than the volume's (nz, nx): each projection
        is interpolated linearly to it (`linear_resampling`); None: the volume's.
    """

    def __init__(
        self,
        volume: np.ndarray,
        cache_size: int = 4,
        frame_shape: tuple[int, int] | None = None,
    ) -> None:
        if volume.ndim != 3:
            raise ValueError(f"need a (z, y, x) volume, got shape {volume.shape}")
        self.shape = volume.shape
        nz, ny, nx = volume.shape
        #: Shape (rows, columns) of a projection.
        self.frame_shape: tuple[int, int] = (nz, nx) if frame_shape is None else frame_shape
        #: (y·x, z) copy of the volume, the layout the sparse product wants.
        self._columns = np.ascontiguousarray(volume.reshape(nz, ny * nx).T, dtype=np.float32)
        self._cache: OrderedDict[float, sparse.csr_matrix] = OrderedDict()
        self._cache_size = cache_size
        self._resampling: tuple[sparse.csr_matrix, sparse.csr_matrix] | None = None
        if self.frame_shape != (nz, nx):
            rows, columns = self.frame_shape
            self._resampling = (linear_resampling(rows, nz), linear_resampling(columns, nx))

    def _operator(self, angle_deg: float) -> sparse.csr_matrix:
        key = float(angle_deg) % 360.0
        operator = self._cache.pop(key, None)
        if operator is None:
            operator = rotate_and_sum_operator(self.shape[1], self.shape[2], key)
        self._cache[key] = operator
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return operator

    def project(self, angle_deg: float) -> np.ndarray:
        """Line integrals (dimensionless, Σ μ·Δx) at a rotation angle, degrees.

        Returns
        -------
        np.ndarray
            float32 array of shape `frame_shape`: each z-slice rotated by ``angle_deg`` in its
            (y, x) plane and summed along y (then interpolated to the detector's pixels).
        """
        by_column = self._operator(angle_deg) @ self._columns  # (nx, nz)
        if self._resampling is None:
            return np.ascontiguousarray(by_column.T, dtype=np.float32)
        rows, columns = self._resampling
        # Columns first, transposed while small: the rows' product then comes out in the
        # frame's (row-major) order, and the full frame is never transposed.
        wide = np.ascontiguousarray((columns @ by_column).T)  # (nz, detector columns)
        return np.ascontiguousarray(rows @ wide, dtype=np.float32)


class DetectorModel:
    """Counting detector behind the sample: gain map, photon noise, dark offset, readout.

    Parameters
    ----------
    imaging
        Frame size (slices and diameter, pixels), open-beam photons per pixel
        (``flat_field_photons``), mean dark counts, gain non-uniformity.
    rng
        Random generator: the gain map is drawn once from it at construction, then every
        frame's noise.
    readout_noise_counts
        Gaussian readout noise, counts RMS (assumed).
    """

    def __init__(
        self,
        imaging: ImagingParameters,
        rng: np.random.Generator,
        readout_noise_counts: float = READOUT_NOISE_COUNTS,
    ) -> None:
        self.frame_shape: tuple[int, int] = (
            imaging.electrode_slices + imaging.electrolyte_slices,
            imaging.diameter_voxels,
        )
        self.photons = imaging.flat_field_photons
        self.dark_counts = imaging.dark_counts
        self.readout_noise_counts = readout_noise_counts
        self._rng = rng
        spread = imaging.flat_field_nonuniformity
        column = 1.0 + spread * rng.standard_normal(self.frame_shape[1])
        pixel = 1.0 + PIXEL_GAIN_SHARE * spread * rng.standard_normal(self.frame_shape)
        #: Relative gain per pixel (mean ≈ 1), fixed for the detector's life.
        self.gain: np.ndarray = np.clip(column[np.newaxis, :] * pixel, 0.05, None)
        pixels = self.gain.size
        self._normal = NormalBank(pixels, rng) if pixels > EXACT_NOISE_MAX_PIXELS else None
        #: I0·gain, float32, for the normal approximation.
        self._photons32 = (self.photons * self.gain).astype(np.float32)

    def expected_counts(self, line_integrals: np.ndarray | None = None) -> np.ndarray:
        """Mean counts per pixel: I0·gain·exp(−line integral) + dark (float64)."""
        transmission = 1.0 if line_integrals is None else np.exp(-line_integrals)
        return self.photons * self.gain * transmission + self.dark_counts

    def _dark_noise(self) -> np.ndarray:
        return self._rng.poisson(
            self.dark_counts, self.frame_shape
        ) + self.readout_noise_counts * self._rng.standard_normal(self.frame_shape)

    @staticmethod
    def _to_uint16(counts: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(counts), 0, UINT16_MAX).astype(np.uint16)

    def _approximated(self, bank: NormalBank, photons: np.ndarray) -> np.ndarray:
        """Normal approximation of Poisson(photons) + Poisson(dark) + readout noise, uint16:
        mean photons + dark, variance photons + dark + readout². ``photons`` (float32, the
        frame's shape) is overwritten: a 2048² frame makes one full-size temporary."""
        # +½ so that the truncating cast below rounds to the nearest count.
        photons += np.float32(self.dark_counts + 0.5)
        noise = photons + np.float32(self.readout_noise_counts**2 - 0.5)
        np.sqrt(noise, out=noise)
        noise *= bank.draw().reshape(self.frame_shape)
        photons += noise
        np.clip(photons, 0, UINT16_MAX, out=photons)
        return photons.astype(np.uint16)

    def dark(self) -> np.ndarray:
        """Dark frame (beam off): Poisson dark counts plus readout noise, uint16."""
        if self._normal is not None:
            return self._approximated(self._normal, np.zeros(self.frame_shape, np.float32))
        return self._to_uint16(self._dark_noise())

    def flat(self, beam_fraction: float = 1.0) -> np.ndarray:
        """Flat (open-beam) frame: Poisson(I0·gain·beam_fraction) + dark, uint16.

        Parameters
        ----------
        beam_fraction
            Incident flux over its nominal value (the storage ring's current over its
            nominal current; 0: no beam, a dark frame).
        """
        if self._normal is not None:
            return self._approximated(self._normal, self._photons32 * np.float32(beam_fraction))
        mean = self.photons * self.gain * beam_fraction
        return self._to_uint16(self._rng.poisson(mean) + self._dark_noise())

    def projection(self, line_integrals: np.ndarray, beam_fraction: float = 1.0) -> np.ndarray:
        """Sample frame: Poisson(I0·gain·beam_fraction·exp(−line integrals)) + dark, uint16.

        Parameters
        ----------
        line_integrals
            Dimensionless Σ μ·Δx per pixel, shape `frame_shape` (`ParallelBeamProjector`).
        beam_fraction
            As in `flat`.
        """
        if line_integrals.shape != self.frame_shape:
            raise ValueError(
                f"line integrals of shape {line_integrals.shape}, detector frame "
                f"is {self.frame_shape}"
            )
        if self._normal is not None:
            photons = np.negative(line_integrals, dtype=np.float32)
            np.exp(photons, out=photons)
            photons *= self._photons32
            photons *= np.float32(beam_fraction)
            return self._approximated(self._normal, photons)
        transmission = np.exp(-np.asarray(line_integrals, dtype=np.float64))
        mean = self.photons * self.gain * beam_fraction * transmission
        return self._to_uint16(self._rng.poisson(mean) + self._dark_noise())
