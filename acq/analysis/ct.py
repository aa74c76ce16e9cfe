"""CT analysis of one scan: projections → reconstruction → three phases → microstructure.

`analyse_ct` flat/dark-corrects and reconstructs the scan slice by slice
(`ct_reconstruction`), segments it into active material, electrolyte and void with a model of
the reconstruction's blur (`ct_segmentation`), finds the electrode/electrolyte layer boundary
from the slices that hold active material, and measures the labelled volume.

The measuring is deliberately not done here: porosities, contact rates and tortuosities come
from `conventions.voxels` (`measure`, `geometric_tortuosity`), the very
functions the phantom's truth is measured with, so that the analysis and the simulation share
one definition of every number (face-counted contact, 26-connected `MCP_Geometric` paths on
the same central crop, the same histogram bins for the mode) and any difference between
them is the imaging chain's error, never a second copy's.

Known bias of the whole chain at the demo's settings (361 projections over 0–180°,
2·10⁴ photons per flat pixel, 10 darks and flats, 1 µm voxels), measured on phantoms of
the default cell (10 µm particles) and of 6 µm particles with a lower porosity law, 6 to
100 MPa: porosities within ±0.3 percentage points; contact rate −2.5 to +2.5 %; contact
anisotropy underestimated by 2.5–7 % (one-voxel voids beside particles in x/y are partly
hidden by the in-plane blur, see `ct_segmentation`); tortuosity mode within ±5 % (one or
two 0.02 bins); the electrode layer found to the slice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from conventions.voxels import (
    ACTIVE,
    OUTSIDE,
    VolumeMetrics,
    central_crop,
    geometric_tortuosity,
    measure,
)

from .ct_reconstruction import reconstruct
from .ct_segmentation import segment

#: A z-slice belongs to the electrode layer if at least this fraction of it is active material.
ELECTRODE_ACTIVE_FRACTION = 0.05


@dataclass(frozen=True, eq=False)
class CTAnalysis(VolumeMetrics):
    """Microstructure measured from one CT scan (the `VolumeMetrics` fields) and what a
    figure of it needs.

    Attributes
    ----------
    electrode_slices
        Thickness of the electrode layer used for the per-layer values, slices.
    blur_sigma_um
        Gaussian σ of the reconstruction's in-plane blur fitted by the segmentation, µm.
    tortuosity_values
        One geometric tortuosity per reached voxel of the electrode crop's last slice
        (1-D, dimensionless), for a histogram.
    slice
        Reconstructed central z-slice (y, x), attenuation per voxel (μ·Δx); 0 outside the
        cylinder.
    segmentation
        Labels of that slice (y, x), uint8 labels of `conventions.voxels`.

    Equality and hash are those of the metrics (`VolumeMetrics`); the arrays are read-only.
    """

    electrode_slices: int
    blur_sigma_um: float
    tortuosity_values: np.ndarray
    slice: np.ndarray
    segmentation: np.ndarray

    def as_dict(self) -> dict[str, float]:
        """The scalar results as ``{field: float}`` (arrays left out), e.g. for an event."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {name: float(value) for name, value in values.items() if np.ndim(value) == 0}


def find_electrode_slices(labels: np.ndarray) -> int:
    """Number of leading z-slices that hold active material (the electrode layer).

    Parameters
    ----------
    labels
        Labelled volume (z, y, x); the electrode layer is on top (first slices).

    Returns
    -------
    int
        Length of the leading run of slices whose active-material fraction (of the voxels
        inside the cylinder) is at least `ELECTRODE_ACTIVE_FRACTION`.

    Raises
    ------
    ValueError
        If fewer than two slices qualify: no electrode layer to measure.
    """
    inside = np.count_nonzero(labels != OUTSIDE, axis=(1, 2))
    active = np.count_nonzero(labels == ACTIVE, axis=(1, 2))
    electrode = active >= ELECTRODE_ACTIVE_FRACTION * np.maximum(inside, 1)
    count = int(np.argmin(electrode)) if not electrode.all() else electrode.size
    if count < 2:
        raise ValueError(
            f"found {count} leading slice(s) with active material; need at least "
            f"2 for an electrode layer"
        )
    return count


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


def analyse_ct(
    projections: np.ndarray,
    darks: np.ndarray,
    flats: np.ndarray,
    angles_deg: np.ndarray,
    *,
    voxel_size_um: float,
    electrode_slices: int | None = None,
) -> CTAnalysis:
    """Reconstruct, segment and measure one CT scan of the cell stack.

    Parameters
    ----------
    projections
        Sample frames (N, Y, X), counts (uint16); Y = z-slices (electrode layer first),
        X = detector columns, the rotation axis at the detector's centre.
    darks, flats
        Dark (beam off) and flat (open beam) frames (M, Y, X), counts.
    angles_deg
        Rotation angle of each projection, degrees (covering 180°; irregular steps are fine).
    voxel_size_um
        Detector pixel size at the sample = voxel edge, µm.
    electrode_slices
        Thickness of the electrode layer, slices; None finds it from the data
        (`find_electrode_slices`).

    Returns
    -------
    CTAnalysis
        Per-layer porosities and fractions, contact rates, tortuosity and the figure's slice.

    Raises
    ------
    ValueError
        On inconsistent shapes, a non-positive voxel size, or no electrode layer.
    """
    if not voxel_size_um > 0:
        raise ValueError(f"voxel_size_um must be positive, got {voxel_size_um!r}")
    volume, inside = reconstruct(projections, darks, flats, angles_deg)
    labels, model = segment(volume, inside)
    if electrode_slices is None:
        electrode_slices = find_electrode_slices(labels)
    metrics = measure(labels, electrode_slices)
    # `measure` keeps only the tortuosity's summary; the histogram needs the values, from
    # the same function on the same crop (a fraction of a second).
    tortuosity = geometric_tortuosity(central_crop(labels[:electrode_slices]))
    centre = volume.shape[0] // 2
    return CTAnalysis(
        **{
            field.name: float(getattr(metrics, field.name))
            for field in dataclasses.fields(VolumeMetrics)
        },
        electrode_slices=int(electrode_slices),
        blur_sigma_um=model.sigma_voxels * voxel_size_um,
        tortuosity_values=_frozen(tortuosity["values"]),
        slice=_frozen(volume[centre]),
        segmentation=_frozen(labels[centre]),
    )
