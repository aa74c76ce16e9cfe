"""Parallel-beam X-ray projections of a phantom and the detector that records them.

* `attenuation_volume`: attenuation per voxel (dimensionless μ·Δx) from the phantom's labels.
* `ParallelBeamProjector`: line integrals through the volume for a rotation about z — each
  z-slice rotated by the angle in its (y, x) plane (bilinear, about the slice centre, as
  ``scipy.ndimage.rotate(volume, angle, axes=(1, 2), order=1, reshape=False,
  mode="grid-constant")``) and summed along y. A projection at angle θ is skimage's
  ``radon``/``iradon`` angle −θ. The rotate-and-sum is one sparse linear operator per angle applied
  to all slices at once, which is what makes a 64 × 256 × 256 projection take milliseconds.
* `DetectorModel`: flat, dark and sample frames with a fixed gain map, Poisson photon noise,
  dark offset and readout noise, as UInt16 counts.

Nothing here imports the rest of the project or EPICS.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from scipy import sparse

from conventions.voxels import ACTIVE, ELECTROLYTE, OUTSIDE, VOID

from .parameters import ImagingParameters
from .phantom import Phantom

#: Largest count a UInt16 detector pixel holds.
UINT16_MAX = 65535
#: Readout noise of the detector, counts RMS (assumed).
READOUT_NOISE_COUNTS = 2.0
#: Pixel-to-pixel gain spread relative to the column-to-column spread (assumed).
PIXEL_GAIN_SHARE = 0.25


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
    """
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    yy, xx = np.mgrid[:ny, :nx]
    dy, dx = yy - cy, xx - cx
    source_y = cos * dy + sin * dx + cy
    source_x = -sin * dy + cos * dx + cx
    y0, x0 = np.floor(source_y).astype(np.int64), np.floor(source_x).astype(np.int64)
    fy, fx = source_y - y0, source_x - x0
    rows, cols, weights = [], [], []
    for oy, wy in ((0, 1.0 - fy), (1, fy)):
        for ox, wx in ((0, 1.0 - fx), (1, fx)):
            sy, sx = y0 + oy, x0 + ox
            valid = (sy >= 0) & (sy < ny) & (sx >= 0) & (sx < nx)
            rows.append(xx[valid])
            cols.append(sy[valid] * nx + sx[valid])
            weights.append((wy * wx)[valid])
    return sparse.csr_matrix(
        (np.concatenate(weights).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(nx, ny * nx),
    )


class ParallelBeamProjector:
    """Line integrals through an attenuation volume for rotations about z.

    Parameters
    ----------
    volume
        Attenuation per voxel, axes (z, y, x) (`attenuation_volume`).
    cache_size
        Number of per-angle operators kept (a scan repeating angles reuses them).
    """

    def __init__(self, volume: np.ndarray, cache_size: int = 4) -> None:
        if volume.ndim != 3:
            raise ValueError(f"need a (z, y, x) volume, got shape {volume.shape}")
        self.shape = volume.shape
        nz, ny, nx = volume.shape
        #: (y·x, z) copy of the volume, the layout the sparse product wants.
        self._columns = np.ascontiguousarray(volume.reshape(nz, ny * nx).T, dtype=np.float32)
        self._cache: OrderedDict[float, sparse.csr_matrix] = OrderedDict()
        self._cache_size = cache_size

    @property
    def frame_shape(self) -> tuple[int, int]:
        """Shape (nz, nx) of a projection."""
        return self.shape[0], self.shape[2]

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
            (y, x) plane and summed along y.
        """
        return np.ascontiguousarray(
            (self._operator(angle_deg) @ self._columns).T, dtype=np.float32
        )


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

    def dark(self) -> np.ndarray:
        """Dark frame (beam off): Poisson dark counts plus readout noise, uint16."""
        return self._to_uint16(self._dark_noise())

    def flat(self, beam_fraction: float = 1.0) -> np.ndarray:
        """Flat (open-beam) frame: Poisson(I0·gain·beam_fraction) + dark, uint16.

        Parameters
        ----------
        beam_fraction
            Incident flux over its nominal value (the storage ring's current over its
            nominal current; 0: no beam, a dark frame).
        """
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
        transmission = np.exp(-np.asarray(line_integrals, dtype=np.float64))
        mean = self.photons * self.gain * beam_fraction * transmission
        return self._to_uint16(self._rng.poisson(mean) + self._dark_noise())
