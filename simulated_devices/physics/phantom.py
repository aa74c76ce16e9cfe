"""Voxel phantom of the cell stack at one stack pressure.

`make_phantom` builds a labelled volume (labels of `conventions.voxels`) whose measured
microstructure tracks the closed-form targets of a `Microstructure`:

* electrode layer (first ``electrode_slices`` z-slices): NCM spheres of log-normal diameter
  placed at random until the active-material fraction is reached, the rest electrolyte; voids
  are then carved so that the porosity is met exactly and the CT-resolved contact rate and its
  z/xy anisotropy approach their targets: voids on active-material faces normal to z are
  rationed, voids beside particles in x/y get the larger share, and the rest of the voids are
  blobs of height/width ``void_aspect`` in the electrolyte between particles;
* electrolyte layer (the remaining slices): electrolyte with void blobs of the same aspect
  (flat sheets normal to z at high pressure) up to its porosity.

Void shapes come from a smoothed random field (anisotropic Gaussian filter of white noise);
the voxels with the highest field values in each pool become void, so voids are coherent blobs
rather than single voxels. The same random generator state gives the same volume; the particle
positions drawn from it do not depend on the pressure (the same particles, compacted
differently).

Nothing here imports the rest of the project or EPICS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy import ndimage

from conventions.voxels import (
    ACTIVE,
    ELECTROLYTE,
    OUTSIDE,
    VOID,
    VolumeMetrics,
    cylinder_mask,
    face_counts,
    measure,
)

from .microstructure import Microstructure
from .parameters import ImagingParameters

#: Largest active-material fraction the particle pool is drawn for (sets the pool size).
MAX_ACTIVE_FRACTION = 0.8
#: Correlation length (Gaussian sigma, x/y) of the void field in the electrode, voxels.
ELECTRODE_VOID_SIGMA_VOXELS = 1.5
#: Correlation length (Gaussian sigma, x/y) of the void field in the electrolyte layer, voxels.
ELECTROLYTE_VOID_SIGMA_VOXELS = 3.0
#: Particle placement stops once the active voxels are this close to the target (fraction).
CLOSE_ENOUGH_FRACTION = 0.002
#: Radii of the precomputed balls are rounded to this step, voxels.
RADIUS_STEP_VOXELS = 0.25


@dataclass(frozen=True)
class Phantom:
    """Labelled voxel volume of the cell stack and its measured truth.

    Attributes
    ----------
    labels
        uint8 array, axes (z, y, x), z = pressing axis; labels of `conventions.voxels`.
    electrode_slices
        Number of z-slices of the electrode layer (the first ones).
    voxel_size_um
        Edge length of a voxel, µm.
    truth
        Microstructure measured on ``labels`` (`conventions.voxels.measure`).
    target
        The closed-form microstructure the phantom was built to.
    """

    labels: np.ndarray
    electrode_slices: int
    voxel_size_um: float
    truth: VolumeMetrics
    target: Microstructure


def phantom_imaging(imaging: ImagingParameters) -> ImagingParameters:
    """The imaging parameters the phantom is built at for a detector of ``imaging``.

    A detector whose frame has an edge beyond ``max_phantom_voxels`` pixels sees a phantom of
    voxels ``k`` pixels wide, ``k`` the smallest whole number that brings the longest edge
    within it: its diameter and slices are ``k`` times fewer (rounded), its voxel ``k`` times
    larger (µm); the physical cell and particles are the same. Otherwise ``imaging`` itself.
    """
    slices = imaging.electrode_slices + imaging.electrolyte_slices
    k = math.ceil(max(imaging.diameter_voxels, slices) / imaging.max_phantom_voxels)
    if k <= 1:
        return imaging
    return replace(
        imaging,
        diameter_voxels=max(round(imaging.diameter_voxels / k), 1),
        electrode_slices=max(round(imaging.electrode_slices / k), 1),
        electrolyte_slices=max(round(imaging.electrolyte_slices / k), 1),
        voxel_size_um=imaging.voxel_size_um * k,
    )


@lru_cache(maxsize=64)
def _ball(radius_voxels: float) -> np.ndarray:
    """Boolean ball of a radius (voxels) centred in a cube of odd edge."""
    half = math.ceil(radius_voxels)
    zz, yy, xx = np.ogrid[-half : half + 1, -half : half + 1, -half : half + 1]
    ball = zz * zz + yy * yy + xx * xx <= radius_voxels**2
    ball.setflags(write=False)
    return ball


def _lognormal_diameters(
    mean: float, relative_spread: float, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Log-normal diameters of a given mean and relative standard deviation."""
    sigma = math.sqrt(math.log1p(relative_spread**2))
    return rng.lognormal(math.log(mean) - sigma**2 / 2.0, sigma, count)


def _smooth_field(
    shape: tuple[int, ...], sigma_xy: float, aspect: float, rng: np.random.Generator
) -> np.ndarray:
    """White noise smoothed by an anisotropic Gaussian (σ_z = aspect · σ_xy), float32."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    sigma = (max(sigma_xy * aspect, 0.3), sigma_xy, sigma_xy)
    return ndimage.gaussian_filter(noise, sigma, mode="reflect", truncate=3.0)


def _top(indices: np.ndarray, score: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` entries of ``indices`` with the highest ``score`` (any order)."""
    count = max(0, min(int(count), indices.size))
    if count == 0:
        return indices[:0]
    if count == indices.size:
        return indices
    return indices[np.argpartition(score, indices.size - count)[indices.size - count :]]


def _place_particles(
    shape: tuple[int, int, int],
    inside: np.ndarray,
    target_count: int,
    imaging: ImagingParameters,
    rng: np.random.Generator,
) -> np.ndarray:
    """Stamp spheres at random until ``target_count`` voxels inside the cylinder are active.

    A sphere whose centre falls in an earlier one is skipped (particles overlap little); one
    that would overshoot the target by more than leaving it out falls short is skipped too.

    Parameters
    ----------
    shape
        (z, y, x) shape of the electrode layer, voxels.
    inside
        (y, x) cylinder mask.
    target_count
        Number of active voxels wanted inside the cylinder.
    imaging
        Particle size (µm) and spread, voxel size (µm).
    rng
        Random generator; a fixed number of draws is made whatever the target, so the same
        state gives the same particles at every pressure.

    Returns
    -------
    np.ndarray
        Boolean (z, y, x) mask of active material.
    """
    nz, ny, nx = shape
    mean_diameter = imaging.particle_diameter_um / imaging.voxel_size_um
    # Mean sphere volume of log-normal diameters: E[d³] = mean³ · (1 + cv²)³.
    mean_volume = (
        math.pi / 6.0 * mean_diameter**3 * (1.0 + imaging.particle_diameter_spread**2) ** 3
    )
    pad = math.ceil(mean_diameter * 1.5) + 1
    padded_volume = (nz + 2 * pad) * (ny + 2 * pad) * (nx + 2 * pad)
    pool = math.ceil(-math.log(1.0 - MAX_ACTIVE_FRACTION) * padded_volume / mean_volume)
    radii = np.clip(
        _lognormal_diameters(mean_diameter, imaging.particle_diameter_spread, pool, rng) / 2.0,
        0.5,
        pad - 1,
    )
    radii = np.round(radii / RADIUS_STEP_VOXELS) * RADIUS_STEP_VOXELS
    centres = (rng.random((pool, 3)) * (np.array([nz, ny, nx]) + 2 * pad)).astype(np.int64)

    active = np.zeros((nz + 2 * pad, ny + 2 * pad, nx + 2 * pad), dtype=bool)
    counted = np.zeros_like(active)
    counted[pad : pad + nz, pad : pad + ny, pad : pad + nx] = inside
    count = 0
    close_enough = int(CLOSE_ENOUGH_FRACTION * target_count)
    for (cz, cy, cx), radius in zip(centres, radii, strict=True):
        if count >= target_count - close_enough:
            break
        if active[cz, cy, cx]:
            continue  # a centre inside another particle: skip, so particles overlap little
        ball = _ball(float(radius))
        half = ball.shape[0] // 2
        z0, y0, x0 = max(cz - half, 0), max(cy - half, 0), max(cx - half, 0)
        region = (slice(z0, cz + half + 1), slice(y0, cy + half + 1), slice(x0, cx + half + 1))
        sub = active[region]
        stamp = ball[z0 - (cz - half) :, y0 - (cy - half) :, x0 - (cx - half) :][
            : sub.shape[0], : sub.shape[1], : sub.shape[2]
        ]
        added = int(np.count_nonzero(stamp & ~sub & counted[region]))
        if count + added - target_count > target_count - count:
            continue  # this particle would overshoot more than leaving it out falls short
        count += added
        sub |= stamp
    return active[pad : pad + nz, pad : pad + ny, pad : pad + nx] & inside


def _face_rate_targets(
    surface_z: int, surface_xy: int, contact_rate: float, anisotropy: float
) -> tuple[float, float]:
    """Contact rates on z- and xy-faces meeting an overall rate and a z/xy ratio."""
    total = surface_z + surface_xy
    rate_xy = contact_rate * total / (anisotropy * surface_z + surface_xy) if total else 1.0
    rate_z = min(anisotropy * rate_xy, 1.0)
    if rate_z == 1.0 and surface_xy:
        rate_xy = (contact_rate * total - surface_z) / surface_xy
    return rate_z, rate_xy


def _active_neighbours(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per voxel, the number of active face neighbours along z and in x/y (uint8 arrays)."""
    along_z = np.zeros(active.shape, dtype=np.uint8)
    along_z[1:] += active[:-1]
    along_z[:-1] += active[1:]
    in_xy = np.zeros(active.shape, dtype=np.uint8)
    in_xy[:, 1:] += active[:, :-1]
    in_xy[:, :-1] += active[:, 1:]
    in_xy[:, :, 1:] += active[:, :, :-1]
    in_xy[:, :, :-1] += active[:, :, 1:]
    return along_z, in_xy


def _take_until(
    indices: np.ndarray, weights: np.ndarray, score: np.ndarray, budget: float, limit: int
) -> np.ndarray:
    """Highest-scoring ``indices`` whose summed ``weights`` stay within ``budget``."""
    if budget <= 0 or indices.size == 0 or limit <= 0:
        return indices[:0]
    order = np.argsort(score)[::-1]
    taken = int(np.searchsorted(np.cumsum(weights[order], dtype=np.int64), budget, side="right"))
    return indices[order[: min(taken, limit)]]


def _carve_electrode_voids(
    labels: np.ndarray,
    electrode_slices: int,
    void_count: int,
    micro: Microstructure,
    field: np.ndarray,
) -> None:
    """Turn ``void_count`` electrode electrolyte voxels into voids, in place.

    Voxels touching active material on a z-face are taken (best field value first) until the
    void faces normal to z reach their target share of the z-surface; then voxels touching it
    only in x/y until the xy-faces reach theirs; the remaining voids are the best-field voxels
    away from the particles.
    """
    active = labels == ACTIVE
    along_z, in_xy = _active_neighbours(active)
    counts = face_counts(labels)
    surface_z, contact_z = counts["z"]
    surface_xy = counts["y"][0] + counts["x"][0]
    rate_z, rate_xy = _face_rate_targets(
        surface_z, surface_xy, micro.contact_rate, micro.contact_anisotropy
    )
    # Void faces already present: electrolyte-layer voids under the electrode's last slice.
    budget_z = surface_z * (1.0 - rate_z) - (surface_z - contact_z)
    budget_xy = surface_xy * (1.0 - rate_xy)

    electrode = labels[:electrode_slices]
    candidates = np.flatnonzero(electrode == ELECTROLYTE)
    fz = along_z[:electrode_slices].ravel()[candidates]
    fxy = in_xy[:electrode_slices].ravel()[candidates]
    score = field.ravel()[candidates]

    z_pool = fz > 0
    z_taken = _take_until(np.flatnonzero(z_pool), fz[z_pool], score[z_pool], budget_z, void_count)
    budget_xy -= float(fxy[z_taken].sum())
    xy_pool = ~z_pool & (fxy > 0)
    xy_taken = _take_until(
        np.flatnonzero(xy_pool), fxy[xy_pool], score[xy_pool], budget_xy, void_count - z_taken.size
    )
    bulk_pool = np.flatnonzero(~z_pool & (fxy == 0))
    bulk_taken = _top(bulk_pool, score[bulk_pool], void_count - z_taken.size - xy_taken.size)
    shortfall = void_count - z_taken.size - xy_taken.size - bulk_taken.size
    chosen = [z_taken, xy_taken, bulk_taken]
    if shortfall > 0:  # not enough voxels away from particles: take more beside them
        rest = np.setdiff1d(
            np.flatnonzero(~z_pool), np.concatenate(chosen[1:]), assume_unique=True
        )
        rest_fxy = fxy[rest].astype(np.int64)
        chosen.append(rest[np.lexsort((-score[rest], rest_fxy))[:shortfall]])
    void = candidates[np.concatenate(chosen)]
    electrode.ravel()[void] = VOID


def _carve_electrolyte_voids(layer: np.ndarray, void_count: int, field: np.ndarray) -> None:
    """Turn the ``void_count`` inside voxels of highest field value into voids, in place."""
    candidates = np.flatnonzero(layer == ELECTROLYTE)
    layer.ravel()[_top(candidates, field.ravel()[candidates], void_count)] = VOID


def make_phantom(
    micro: Microstructure, imaging: ImagingParameters, rng: np.random.Generator
) -> Phantom:
    """Build the labelled phantom of the cell stack for a microstructure.

    Parameters
    ----------
    micro
        Target microstructure (fractions, contact rate and anisotropy, void aspect).
    imaging
        Volume size (voxels), voxel size and particle size (µm).
    rng
        Random generator; the same state gives the same labels.

    Returns
    -------
    Phantom
        Volume of shape (electrode_slices + electrolyte_slices, diameter_voxels,
        diameter_voxels) with its measured truth.
    """
    n = imaging.diameter_voxels
    nz_e, nz_s = imaging.electrode_slices, imaging.electrolyte_slices
    inside = cylinder_mask(n)
    inside_e = int(np.count_nonzero(inside)) * nz_e
    inside_s = int(np.count_nonzero(inside)) * nz_s

    active = _place_particles(
        (nz_e, n, n), inside, round(micro.active_fraction_electrode * inside_e), imaging, rng
    )
    aspect = micro.void_aspect
    field_e = _smooth_field((nz_e, n, n), ELECTRODE_VOID_SIGMA_VOXELS, aspect, rng)
    field_s = _smooth_field((nz_s, n, n), ELECTROLYTE_VOID_SIGMA_VOXELS, aspect, rng)

    labels = np.full((nz_e + nz_s, n, n), ELECTROLYTE, dtype=np.uint8)
    labels[:nz_e][active] = ACTIVE
    labels[:, ~inside] = OUTSIDE
    _carve_electrolyte_voids(labels[nz_e:], round(micro.porosity_electrolyte * inside_s), field_s)
    _carve_electrode_voids(
        labels, nz_e, round(micro.porosity_electrode * inside_e), micro, field_e
    )
    labels.setflags(write=False)
    return Phantom(
        labels=labels,
        electrode_slices=nz_e,
        voxel_size_um=imaging.voxel_size_um,
        truth=measure(labels, nz_e),
        target=micro,
    )
