"""A labelled voxel volume of the cell and what is measured on it: phase fractions, contact
rates, geometric tortuosity.

A labelled volume holds one phase label per voxel (`VOID`, `ELECTROLYTE`, `ACTIVE`) and
`OUTSIDE` for voxels outside the imaged cylinder (`cylinder_mask`). Axis order is (z, y, x);
z is the pressing axis. The composite electrode occupies the first ``electrode_slices``
z-slices, the electrolyte (separator) layer the rest.

One definition for both sides of the seam: the simulator measures its phantom with these
functions (the truth), the CT analysis measures its segmentation with the same ones, so the
two can be compared number for number (docs/science.md, "CT").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from skimage.graph import MCP_Geometric

#: Label of pore space (no material).
VOID = 0
#: Label of solid electrolyte (LGPS).
ELECTROLYTE = 1
#: Label of active material (NCM).
ACTIVE = 2
#: Label of voxels outside the imaged cylinder.
OUTSIDE = 255

#: Largest x/y extent of the central crop the tortuosity is measured on, voxels.
TORTUOSITY_CROP_VOXELS = 48
#: Width of the histogram bins the tortuosity mode is taken from (dimensionless).
TORTUOSITY_BIN_WIDTH = 0.02


def cylinder_mask(diameter_voxels: int) -> np.ndarray:
    """Boolean (y, x) mask of the cylinder inscribed in a square of ``diameter_voxels``."""
    centre = (diameter_voxels - 1) / 2.0
    yy, xx = np.ogrid[:diameter_voxels, :diameter_voxels]
    return (yy - centre) ** 2 + (xx - centre) ** 2 <= (diameter_voxels / 2.0) ** 2


def phase_fractions(labels: np.ndarray) -> dict[str, float]:
    """Volume fractions of the three phases among the voxels inside the cylinder.

    Parameters
    ----------
    labels
        Labelled volume (any shape), uint8.

    Returns
    -------
    dict
        ``{"void": ..., "electrolyte": ..., "active": ...}``, each a fraction (0–1) of the
        voxels that are not `OUTSIDE`; NaN if there are none.
    """
    inside = np.count_nonzero(labels != OUTSIDE)
    names = {"void": VOID, "electrolyte": ELECTROLYTE, "active": ACTIVE}
    if inside == 0:
        return {name: float("nan") for name in names}
    return {name: np.count_nonzero(labels == value) / inside for name, value in names.items()}


def _face_counts(active: np.ndarray, partner: np.ndarray, axis: int) -> int:
    """Number of faces normal to ``axis`` between an `active` voxel and a `partner` voxel."""
    n = active.shape[axis]
    lower = [slice(None)] * active.ndim
    upper = [slice(None)] * active.ndim
    lower[axis] = slice(0, n - 1)
    upper[axis] = slice(1, n)
    lo, hi = tuple(lower), tuple(upper)
    return int(
        np.count_nonzero(active[lo] & partner[hi]) + np.count_nonzero(active[hi] & partner[lo])
    )


def face_counts(labels: np.ndarray) -> dict[str, tuple[int, int]]:
    """Active-material surface and contact faces per face orientation.

    Parameters
    ----------
    labels
        Labelled volume, axes (z, y, x).

    Returns
    -------
    dict
        ``{"z": (surface, contact), "y": (...), "x": (...)}``: for faces normal to each axis,
        the number of `ACTIVE` voxel faces touching a non-`ACTIVE` voxel inside the cylinder
        (surface) and the number of those touching `ELECTROLYTE` (contact). Faces on the
        boundary of the volume have no neighbour and are not counted.
    """
    active = labels == ACTIVE
    electrolyte = labels == ELECTROLYTE
    other_inside = ~active & (labels != OUTSIDE)
    return {
        name: (_face_counts(active, other_inside, axis), _face_counts(active, electrolyte, axis))
        for axis, name in enumerate("zyx")
    }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def contact_rates(labels: np.ndarray) -> tuple[float, float, float]:
    """Active-material/electrolyte contact rates by face counting.

    The active-material surface is the number of `ACTIVE` voxel faces touching a non-`ACTIVE`
    voxel inside the cylinder; the contact is the number of those faces touching
    `ELECTROLYTE`. The contact anisotropy is ``contact_rate_z / contact_rate_xy``.

    Parameters
    ----------
    labels
        Labelled volume, axes (z, y, x).

    Returns
    -------
    contact_rate, contact_rate_z, contact_rate_xy
        Contact / surface (dimensionless, 0–1) over all faces, over faces normal to z and over
        faces normal to x or y; NaN where there is no surface.
    """
    counts = face_counts(labels)
    surface_z, contact_z = counts["z"]
    surface_xy = counts["y"][0] + counts["x"][0]
    contact_xy = counts["y"][1] + counts["x"][1]
    return (
        _ratio(contact_z + contact_xy, surface_z + surface_xy),
        _ratio(contact_z, surface_z),
        _ratio(contact_xy, surface_xy),
    )


def histogram_mode(values: np.ndarray, bin_width: float = TORTUOSITY_BIN_WIDTH) -> float:
    """Centre of the most populated histogram bin of ``values``.

    Bins are ``bin_width`` wide with edges at whole multiples of ``bin_width``; ties go to the
    lowest bin. NaN for no values.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan")
    index = np.floor(values / bin_width + 1e-9).astype(np.int64)
    low = index.min()
    counts = np.bincount(index - low)
    return float((low + np.argmax(counts) + 0.5) * bin_width)


def geometric_tortuosity(labels: np.ndarray, voxel_size: float = 1.0) -> dict:
    """Geometric tortuosity of the electrolyte phase along z.

    Shortest paths run through `ELECTROLYTE` voxels only, between any voxel of any
    neighbourhood (26-connected, diagonal steps √2 and √3 long), from the set of electrolyte
    voxels of the first z-slice (`skimage.graph.MCP_Geometric`). Each electrolyte voxel of the
    last z-slice reached gives one value: path length / layer thickness, the thickness being
    ``(nz - 1)`` voxels.

    Parameters
    ----------
    labels
        Labelled layer, axes (z, y, x), at least two slices.
    voxel_size
        Edge length of a voxel (any length unit; the tortuosity is dimensionless).

    Returns
    -------
    dict
        ``mode`` (centre of the most populated bin of width `TORTUOSITY_BIN_WIDTH`),
        ``minimum``, ``mean`` and ``values`` (1-D array, one per reached bottom voxel).
        Scalars are NaN if no bottom voxel is connected to the top.
    """
    if labels.ndim != 3 or labels.shape[0] < 2:
        raise ValueError(f"need a (z, y, x) volume of at least 2 slices, got {labels.shape}")
    conducting = labels == ELECTROLYTE
    starts = np.argwhere(conducting[0])
    values = np.empty(0)
    if starts.size and conducting[-1].any():
        costs = np.where(conducting, 1.0, np.inf)
        graph = MCP_Geometric(costs, fully_connected=True, sampling=(voxel_size,) * 3)
        start_points = [(0, int(y), int(x)) for y, x in starts]
        cumulative, _ = graph.find_costs(start_points)
        bottom = cumulative[-1][conducting[-1]]
        thickness = (labels.shape[0] - 1) * voxel_size
        values = bottom[np.isfinite(bottom)] / thickness
    if values.size == 0:
        return {
            "mode": float("nan"),
            "minimum": float("nan"),
            "mean": float("nan"),
            "values": values,
        }
    return {
        "mode": histogram_mode(values),
        "minimum": float(values.min()),
        "mean": float(values.mean()),
        "values": values,
    }


def central_crop(labels: np.ndarray, size: int = TORTUOSITY_CROP_VOXELS) -> np.ndarray:
    """Central crop of at most ``size`` × ``size`` voxels in y/x, all z-slices kept."""
    _, ny, nx = labels.shape
    cy, cx = min(size, ny), min(size, nx)
    y0, x0 = (ny - cy) // 2, (nx - cx) // 2
    return labels[:, y0 : y0 + cy, x0 : x0 + cx]


@dataclass(frozen=True)
class VolumeMetrics:
    """Measured microstructure of a labelled cell volume (fractions 0–1, ratios dimensionless).

    Porosities and phase fractions are over the voxels inside the cylinder of each layer;
    contact rates over the whole volume. Tortuosities are of the electrolyte path through the
    electrode layer along z, measured on its central crop of at most
    `TORTUOSITY_CROP_VOXELS` × `TORTUOSITY_CROP_VOXELS` voxels in x/y (for speed; the paper's
    tortuosity crop is likewise smaller than its analysed volume).
    """

    porosity_electrode: float
    porosity_electrolyte: float
    active_fraction_electrode: float
    electrolyte_fraction_electrode: float
    contact_rate: float
    contact_rate_z: float
    contact_rate_xy: float
    #: contact_rate_z / contact_rate_xy.
    contact_anisotropy: float
    tortuosity_mode: float
    tortuosity_minimum: float
    tortuosity_mean: float

    def as_dict(self) -> dict[str, float]:
        """Plain ``{field: value}`` copy, e.g. for run metadata."""
        return {key: float(value) for key, value in dataclasses.asdict(self).items()}


def measure(labels: np.ndarray, electrode_slices: int) -> VolumeMetrics:
    """Measure the microstructure of a labelled cell volume.

    Parameters
    ----------
    labels
        Labelled volume, axes (z, y, x); the electrode layer is the first ``electrode_slices``
        z-slices, the electrolyte layer the rest.
    electrode_slices
        Thickness of the electrode layer, slices (at least 2).

    Returns
    -------
    VolumeMetrics
        The measured values.
    """
    if not 2 <= electrode_slices <= labels.shape[0]:
        raise ValueError(
            f"electrode_slices must be in [2, {labels.shape[0]}], got {electrode_slices}"
        )
    electrode = labels[:electrode_slices]
    electrode_phases = phase_fractions(electrode)
    electrolyte_phases = phase_fractions(labels[electrode_slices:])
    rate, rate_z, rate_xy = contact_rates(labels)
    tortuosity = geometric_tortuosity(central_crop(electrode))
    return VolumeMetrics(
        porosity_electrode=electrode_phases["void"],
        porosity_electrolyte=electrolyte_phases["void"],
        active_fraction_electrode=electrode_phases["active"],
        electrolyte_fraction_electrode=electrode_phases["electrolyte"],
        contact_rate=rate,
        contact_rate_z=rate_z,
        contact_rate_xy=rate_xy,
        contact_anisotropy=_ratio(rate_z, rate_xy),
        tortuosity_mode=tortuosity["mode"],
        tortuosity_minimum=tortuosity["minimum"],
        tortuosity_mean=tortuosity["mean"],
    )
