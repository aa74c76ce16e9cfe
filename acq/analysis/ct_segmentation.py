"""Three-phase segmentation of a reconstructed cell volume that models the reconstruction's blur.

The reconstruction (`ct_reconstruction`) is sharp along z (each slice is reconstructed on its
own) but blurred in x/y, by a near-Gaussian of σ ≈ 0.6 voxel (the projector's and the
back-projection's interpolation). Thresholding it directly (`threshold_labels`, multi-Otsu)
turns the boundary between a bright active-material (NCM) particle and a void into a
one-voxel rim of "electrolyte" — the particle's blurred spill-over — and the phantom's voids
beside particles in x/y are often one voxel thin. On the default cell that overestimates the
contact rate by 35–46 %, flattens the contact anisotropy by 27–29 % and underestimates the
electrode porosity by 3–4 percentage points; smoothing before thresholding makes it worse
(contact +47–61 %).

So the segmentation fits a forward model of the reconstruction instead,

    reconstruction ≈ G_σ ∗ level[label]   (G_σ: 2-D Gaussian in x/y, none along z),

with one attenuation level per phase, σ and the noise fitted to the data (`fit_blur_model`),
and gives each voxel the label that best explains the reconstruction around it
(`refine_labels`: iterated conditional modes on the squared residual, plus a Potts penalty
for disagreeing face neighbours that keeps photon noise from speckling the phases). A void
beside a particle then reads as a void, because the particle's spill-over is part of the
model rather than evidence of electrolyte. Single-voxel moves get stuck where a particle's
edge voxel and the void beside it both read as electrolyte (their blurred mean), so a last
sweep moves pairs of x/y-neighbours together.

Cost: what each sweep weighs a label change by, the blurred residual G∗(reconstruction −
G∗level[label]), is blurred once per refinement and then updated only where labels changed
(`ResidualEvidence`: after the first sweeps well under 0.1 % of the voxels change per
sub-lattice), instead of two blurs of the whole volume after every sub-lattice sweep; the
blurs and the sweeps run per slab of slices on threads (`slabs`). The labels are those of
blurring the whole volume every time (identical on the demo's scan).

Known bias, on phantoms at the demo's settings (361 projections over 0–180°, 2·10⁴ photons
per flat pixel), 6 to 100 MPa: the contact anisotropy is underestimated, by 2.5–4.5 % for
the default cell, 3.5–7 % for 6 µm particles with a lower porosity law and up to 7.5 % for
14 µm particles with more voids beside them (anisotropy 1.6): some one-voxel voids beside
particles in x/y stay hidden under blur and noise, while voids on faces normal to z (no
blur) are found, so the bias grows with the share of voids beside particles in x/y. The
contact rate is within ±2.5 %, porosities within 0.2 percentage points, the tortuosity mode
within 5 %.

Labels are those of `conventions.voxels` (`VOID`, `ELECTROLYTE`,
`ACTIVE`, `OUTSIDE`), the definitions the phantom's truth is measured with.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize, sparse
from skimage.filters import threshold_multiotsu

from conventions.voxels import ACTIVE, ELECTROLYTE, OUTSIDE, VOID

from .slabs import map_slabs

#: Phase labels in order of increasing attenuation.
PHASES = (VOID, ELECTROLYTE, ACTIVE)
#: Attenuation of voxels outside the cylinder: open beam, 0 by the flat-field correction.
OUTSIDE_LEVEL = 0.0
#: Range searched for the blur's Gaussian σ in x/y, voxels.
BLUR_SIGMA_RANGE_VOXELS = (0.2, 2.0)
#: Tolerance of the fitted σ, voxels.
BLUR_SIGMA_TOLERANCE_VOXELS = 0.01
#: Every this many z-slices enter the blur fit (4 parameters need few voxels) …
FIT_SLICE_STEP = 4
#: … or every more, so that at most about this many voxels enter it.
FIT_VOXELS = 1 << 20
#: A refit after the labels were refined searches σ this close to the last fit's, voxels.
REFIT_SIGMA_SPAN_VOXELS = 0.1
#: Voxels at the cylinder's rim left out of the blur fit (they blur with the air outside).
RIM_VOXELS = 3
#: Potts penalty per disagreeing face neighbour, in units of 2·noise² (the scale of the
#: residual's log-likelihood).
SMOOTHNESS = 0.5
#: Most sweeps of single-voxel label refinement.
MAX_SWEEPS = 6
#: Rounds of (model fit, single-voxel refinement) before the pair moves.
SINGLE_VOXEL_ROUNDS = 2
#: Sweeps of pair moves after the single-voxel refinement.
PAIR_SWEEPS = 1
#: Refinement stops once a sweep changes fewer than this fraction of the voxels.
CONVERGED_FRACTION = 5e-4
#: A sub-lattice sweep that changes more than this fraction of the voxels recomputes the
#: residual's evidence whole; fewer are spread by sparse products (`ResidualEvidence`).
DENSE_UPDATE_FRACTION = 1e-3
#: Gaussian kernels are truncated at this many σ.
BLUR_TRUNCATE = 4.0


@dataclass(frozen=True)
class BlurModel:
    """Forward model of the reconstruction: phase levels blurred by a Gaussian in x/y.

    Attributes
    ----------
    levels
        Attenuation per voxel (μ·Δx, dimensionless) of void, electrolyte and active material.
    sigma_voxels
        Gaussian σ of the blur in x/y, voxels (no blur along z).
    noise_rms
        RMS of the reconstruction about the model (same unit as the levels).
    """

    levels: tuple[float, float, float]
    sigma_voxels: float
    noise_rms: float

    def blur(self, volume: np.ndarray) -> np.ndarray:
        """``volume`` (z, y, x) convolved with the model's Gaussian in x/y (float32)."""
        return blur_xy(volume, self.sigma_voxels)

    def level_image(self, labels: np.ndarray) -> np.ndarray:
        """Attenuation per voxel the labels stand for (float32); `OUTSIDE_LEVEL` outside."""
        table = np.full(256, OUTSIDE_LEVEL, dtype=np.float32)
        table[list(PHASES)] = self.levels
        return table[labels]

    def kernel_overlap(self, lag_voxels: int) -> float:
        """⟨G_0, G_lag⟩: overlap of the (discrete) blur kernel with itself shifted along x by
        ``lag_voxels`` (lag 0: ‖G‖²)."""
        half = int(np.ceil(BLUR_TRUNCATE * self.sigma_voxels)) + 1 + lag_voxels
        impulse = np.zeros((1, 2 * half + 1, 2 * half + 1), dtype=np.float32)
        impulse[0, half, half] = 1.0
        kernel = self.blur(impulse)[0]
        return float(np.sum(kernel[:, lag_voxels:] * kernel[:, : kernel.shape[1] - lag_voxels]))


def blur_xy(volume: np.ndarray, sigma_voxels: float) -> np.ndarray:
    """Gaussian filter of a (z, y, x) volume in x/y only, float32; 0 (air) beyond its edges.

    Slabs of z-slices are filtered on `WORKERS` threads (`scipy.ndimage` releases the GIL).
    """
    volume = volume.astype(np.float32, copy=False)
    result = np.empty(volume.shape, dtype=np.float32)

    def work(slices: slice) -> None:
        ndimage.gaussian_filter(
            volume[slices],
            (0.0, sigma_voxels, sigma_voxels),
            output=result[slices],
            mode="constant",
            truncate=BLUR_TRUNCATE,
        )

    map_slabs(work, volume.shape[0])
    return result


def blur_matrix(inside: np.ndarray, sigma_voxels: float) -> tuple[sparse.csr_matrix, ...]:
    """`blur_xy` of one (y, x) slice as a sparse matrix on row-major pixels, and the same
    with the rows outside the ``inside`` mask zeroed.

    Returns
    -------
    blur, masked_blur
        float32 (y·x, y·x) CSR matrices: ``blur @ image.ravel()`` equals
        ``blur_xy(image[None], sigma_voxels).ravel()``; ``masked_blur`` is ``inside`` times that.
    """
    axes = [
        sparse.csr_matrix(
            ndimage.gaussian_filter1d(
                np.eye(size, dtype=np.float32),
                sigma_voxels,
                axis=0,
                mode="constant",
                truncate=BLUR_TRUNCATE,
            )
        )
        for size in inside.shape
    ]
    blur = sparse.kron(axes[0], axes[1], format="csr")
    masked = sparse.diags_array(inside.ravel().astype(np.float32)) @ blur
    return blur, sparse.csr_matrix(masked)


def threshold_labels(volume: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Initial labels by three-class Otsu thresholds of the voxels inside the cylinder.

    Parameters
    ----------
    volume
        Reconstruction (z, y, x).
    inside
        Boolean (y, x) cylinder mask.

    Returns
    -------
    np.ndarray
        uint8 labels (z, y, x), `OUTSIDE` outside the cylinder.
    """
    low, high = threshold_multiotsu(volume[:, inside], classes=3)
    labels = np.full(volume.shape, OUTSIDE, dtype=np.uint8)
    labels[:, inside] = np.asarray(PHASES, dtype=np.uint8)[
        np.digitize(volume[:, inside], [low, high])
    ]
    return labels


def _fit_levels(
    observed: np.ndarray, labels: np.ndarray, core: np.ndarray, sigma_voxels: float
) -> tuple[tuple[float, float, float], float]:
    """Least-squares phase levels for a given σ, and the sum of squared residuals.

    The model is void + (electrolyte − void)·G∗[not void] + (active − electrolyte)·G∗[active],
    solved by its 3 × 3 normal equations over the ``core`` (y, x) voxels of every slice
    (``observed``: the reconstruction there, float64, slice-major), in the least-squares
    sense, so a phase that is absent does not make them singular.
    """
    design = np.stack(
        [
            np.ones(observed.size, dtype=np.float64),
            blur_xy(labels != VOID, sigma_voxels)[:, core].ravel(),
            blur_xy(labels == ACTIVE, sigma_voxels)[:, core].ravel(),
        ]
    )
    normal = design @ design.T
    projected = design @ observed
    void, solid_step, active_step = np.linalg.lstsq(normal, projected, rcond=None)[0]
    step = np.array([void, solid_step, active_step])
    # ‖f − Dᵀβ‖² from the normal equations' sums (no residual vector per σ).
    residual = observed @ observed - 2.0 * step @ projected + step @ normal @ step
    levels = (float(void), float(void + solid_step), float(void + solid_step + active_step))
    return levels, float(max(residual, 0.0))


def fit_blur_model(
    volume: np.ndarray,
    labels: np.ndarray,
    inside: np.ndarray,
    sigma_bounds_voxels: tuple[float, float] = BLUR_SIGMA_RANGE_VOXELS,
) -> BlurModel:
    """Fit the phase levels and the blur σ to a reconstruction given its labels.

    The levels enter linearly (least squares for each σ); σ minimises the residual (bounded
    scalar search within ``sigma_bounds_voxels``). Every `FIT_SLICE_STEP`-th slice is used,
    or every more so that at most about `FIT_VOXELS` voxels enter; voxels within
    `RIM_VOXELS` of the cylinder's rim are left out.

    Parameters
    ----------
    volume
        Reconstruction (z, y, x), attenuation per voxel.
    labels
        Current labels (z, y, x).
    inside
        Boolean (y, x) cylinder mask.
    sigma_bounds_voxels
        Range searched for σ, voxels.

    Returns
    -------
    BlurModel
        The fitted levels and σ (voxels).
    """
    core = ndimage.binary_erosion(inside, iterations=RIM_VOXELS)
    step = max(FIT_SLICE_STEP, -(-volume.shape[0] * np.count_nonzero(core) // FIT_VOXELS))
    labels = labels[::step]
    observed = volume[::step, core].ravel().astype(np.float64)
    search = optimize.minimize_scalar(
        lambda sigma: _fit_levels(observed, labels, core, sigma)[1],
        bounds=sigma_bounds_voxels,
        method="bounded",
        options={"xatol": BLUR_SIGMA_TOLERANCE_VOXELS},
    )
    levels, residual = _fit_levels(observed, labels, core, float(search.x))
    noise = np.sqrt(residual / observed.size)
    return BlurModel(levels=levels, sigma_voxels=float(search.x), noise_rms=float(noise))


def _lattice_view(
    array: np.ndarray,
    pad: int,
    offset: tuple[int, int, int],
    row: int,
    start: int,
    step: int,
    count: int,
) -> np.ndarray:
    """View of ``array`` at (every z, y ≡ row (mod 2), x = start + step·k) shifted by
    ``offset`` (dz, dy, dx); ``pad`` is the padding ``array`` has on every side."""
    nz, ny = array.shape[0] - 2 * pad, array.shape[1] - 2 * pad
    dz, dy, dx = offset
    x0 = pad + start + dx
    return array[
        pad + dz : pad + dz + nz, pad + row + dy : pad + ny + dy : 2, x0 : x0 + step * count : step
    ]


def _unary_gains(
    evidence: np.ndarray,
    current: np.ndarray,
    neighbours: list[np.ndarray],
    model: BlurModel,
    penalty: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Gain of giving each voxel each phase on its own, and the level steps that takes.

    Returns
    -------
    gains, steps
        float32 arrays (phase, *evidence.shape): 2Δ·(G∗r) − Δ²‖G‖² + penalty · agreeing
        neighbours, and Δ = level(phase) − level(current label).
    """
    energy = model.kernel_overlap(0)
    current_level = model.level_image(current)
    steps = np.stack([level - current_level for level in model.levels])
    gains = steps * (2.0 * evidence - steps * energy)
    for index, phase in enumerate(PHASES):
        agreeing = np.zeros(evidence.shape, dtype=np.uint8)
        for view in neighbours:
            agreeing += view == phase
        gains[index] += penalty * agreeing
    return gains, steps


class ResidualEvidence:
    """The blurred residual G∗((reconstruction − G∗level[labels])·inside) of the blur model,
    the evidence `_update_blocks` weighs label changes by, kept up to date as labels change.

    After its first sweeps a sub-lattice sweep changes few labels (well under 0.1 % of the
    voxels at the demo's settings), so rather than blurring the whole volume twice after each
    sweep, the change's effect is spread by sparse products with `blur_matrix` (about
    25 + 625 multiply-adds per changed voxel at σ ≈ 0.6 voxel) and subtracted from the
    evidence in place; a change of more than `DENSE_UPDATE_FRACTION` of the voxels recomputes
    it whole. Both give the same evidence, to float32 rounding.

    Parameters
    ----------
    volume
        Reconstruction (z, y, x).
    labels
        Current labels (z, y, x).
    inside
        Boolean (y, x) cylinder mask.
    model
        Phase levels and blur.
    """

    def __init__(
        self, volume: np.ndarray, labels: np.ndarray, inside: np.ndarray, model: BlurModel
    ) -> None:
        self.volume, self.inside, self.model = volume, inside, model
        #: The evidence (z, y, x), float32; updated in place.
        self.values = self._whole(labels)
        self._blur, self._masked_blur = blur_matrix(inside, model.sigma_voxels)

    def _whole(self, labels: np.ndarray) -> np.ndarray:
        model = self.model
        return model.blur((self.volume - model.blur(model.level_image(labels))) * self.inside)

    def update(self, labels: np.ndarray, index: np.ndarray, level_change: np.ndarray) -> None:
        """Account for the labels changed at flat voxel indices ``index`` (into the
        (z, y, x) volume), whose levels changed by ``level_change``; ``labels`` are the
        labels after the change."""
        if index.size > DENSE_UPDATE_FRACTION * self.values.size:
            self.values[...] = self._whole(labels)
            return
        slices, pixels = self.values.shape[0], self.values[0].size
        z, pixel = np.divmod(index.astype(np.int64), pixels)
        change = sparse.csr_matrix((level_change, (pixel, z)), shape=(pixels, slices))
        spread = sparse.coo_matrix(self._blur @ (self._masked_blur @ change))
        spread.sum_duplicates()
        flat = spread.col.astype(np.int64) * pixels + spread.row
        self.values.reshape(-1)[flat] -= spread.data


def _update_blocks(
    labels: np.ndarray,
    padded: np.ndarray,
    inside: np.ndarray,
    evidence: np.ndarray,
    voxel_index: np.ndarray,
    model: BlurModel,
    penalty: float,
    size: int,
    row: int,
    start: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Give each block of ``size`` (1 or 2) voxels along x its best labels, in place.

    ``labels``, ``evidence`` and ``voxel_index`` are (z, y, x) arrays of a slab of slices;
    ``padded`` holds the labels before this update padded by one `OUTSIDE` voxel on every
    side, over the slab and one slice either side of it (the face neighbours along z).
    Blocks start at x ≡ ``start`` (mod 2·size), y ≡ ``row`` (mod 2), every z: two voxels
    apart or more, where the blur barely couples them, so they are updated together.
    Changing the levels of a block's voxels by Δ_i changes the squared residual
    ‖f − G∗m‖² by Σ_i (−2Δ_i·(G∗r)_i + Δ_i²‖G‖²) + 2Δ_0Δ_1⟨G_0, G_1⟩ (r the current
    residual, ``evidence`` = G∗r); the best labels maximise minus that plus ``penalty`` per
    agreeing face neighbour. A pair can swap an (electrolyte, electrolyte) reading for the
    (active, void) it blurs into, which no single-voxel move reaches without first raising
    the residual.

    Returns
    -------
    index, level_change
        ``voxel_index`` at the labels changed, and the change of their levels.
    """
    step = 2 * size
    count = len(range(start + size - 1, labels.shape[2], step))
    if count == 0:
        return np.empty(0, dtype=voxel_index.dtype), np.empty(0, dtype=np.float32)
    current, unary, steps = [], [], []
    for i in range(size):
        offsets = [(-1, 0, i), (1, 0, i), (0, -1, i), (0, 1, i)]
        offsets += [(0, 0, -1)] if i == 0 else []
        offsets += [(0, 0, size)] if i == size - 1 else []
        current.append(_lattice_view(labels, 0, (0, 0, i), row, start, step, count))
        gains, change = _unary_gains(
            _lattice_view(evidence, 0, (0, 0, i), row, start, step, count),
            current[i],
            [_lattice_view(padded, 1, offset, row, start, step, count) for offset in offsets],
            model,
            penalty,
        )
        unary.append(gains)
        steps.append(change)
    if size == 1:
        best = np.argmax(unary[0], axis=0)[np.newaxis]
    else:
        overlap = model.kernel_overlap(1)
        combinations = list(itertools.product(range(len(PHASES)), repeat=2))
        gains = np.stack(
            [
                unary[0][a]
                + unary[1][b]
                - 2.0 * overlap * steps[0][a] * steps[1][b]
                + (penalty if a == b else 0.0)
                for a, b in combinations
            ]
        )
        best = np.asarray(combinations).T[:, np.argmax(gains, axis=0)]
    indices, level_changes = [], []
    for i in range(size):
        within = _lattice_view(inside[np.newaxis], 0, (0, 0, i), row, start, step, count)
        new = np.where(within, np.asarray(PHASES, dtype=np.uint8)[best[i]], OUTSIDE)
        moved = new != current[i]
        indices.append(_lattice_view(voxel_index, 0, (0, 0, i), row, start, step, count)[moved])
        level_changes.append(model.level_image(new[moved]) - model.level_image(current[i][moved]))
        current[i][...] = new
    return np.concatenate(indices), np.concatenate(level_changes)


def _update_sublattice(
    labels: np.ndarray,
    inside: np.ndarray,
    evidence: np.ndarray,
    voxel_index: np.ndarray,
    model: BlurModel,
    penalty: float,
    size: int,
    row: int,
    start: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`_update_blocks` of the whole volume, slab by slab of slices on threads (NumPy
    releases the GIL); every slab reads the labels as they were before this update, so the
    result is that of one update of the whole volume."""
    padded = np.pad(labels, 1, constant_values=OUTSIDE)

    def work(slab: slice) -> tuple[np.ndarray, np.ndarray]:
        return _update_blocks(
            labels[slab],
            padded[slab.start : slab.stop + 2],
            inside,
            evidence[slab],
            voxel_index[slab],
            model,
            penalty,
            size,
            row,
            start,
        )

    moves = map_slabs(work, labels.shape[0])
    return np.concatenate([index for index, _ in moves]), np.concatenate(
        [change for _, change in moves]
    )


def refine_labels(
    volume: np.ndarray,
    labels: np.ndarray,
    inside: np.ndarray,
    model: BlurModel,
    *,
    block_voxels: int = 1,
    max_sweeps: int = MAX_SWEEPS,
    smoothness: float = SMOOTHNESS,
) -> np.ndarray:
    """Labels that best explain the reconstruction under the blur model.

    Iterated conditional modes over blocks of voxels: each sweep visits every block (single
    voxels, or pairs of x- then y-neighbours), giving it the labels that most lower the
    squared residual of the model plus a Potts penalty of ``smoothness`` · 2·noise² per
    disagreeing face neighbour; sweeps stop once one changes fewer than
    `CONVERGED_FRACTION` of the voxels, or after ``max_sweeps``. The residual's evidence is
    blurred once and then updated where labels changed (`ResidualEvidence`).

    Parameters
    ----------
    volume
        Reconstruction (z, y, x).
    labels
        Starting labels (z, y, x); not modified.
    inside
        Boolean (y, x) cylinder mask.
    model
        Phase levels, blur and noise.
    block_voxels
        1 (single voxels) or 2 (pairs of x/y-neighbours).
    max_sweeps
        Most sweeps.
    smoothness
        Potts penalty per disagreeing face neighbour, in units of 2·noise_rms² (the scale of
        the residual's log-likelihood).

    Returns
    -------
    np.ndarray
        uint8 labels (z, y, x), `OUTSIDE` outside the cylinder.
    """
    if block_voxels not in (1, 2):
        raise ValueError(f"block_voxels must be 1 or 2, got {block_voxels}")
    labels = labels.copy()
    penalty = smoothness * 2.0 * model.noise_rms**2
    evidence = ResidualEvidence(volume, labels, inside, model)
    index_type = np.int32 if labels.size < np.iinfo(np.int32).max else np.int64
    voxel_index = np.arange(labels.size, dtype=index_type).reshape(labels.shape)
    # Pairs along y are pairs along x of the volume with x and y swapped (views); the
    # evidence of the swapped volume is the swapped evidence (the blur is isotropic in x/y).
    orientations = [(labels, inside, evidence.values, voxel_index)]
    if block_voxels == 2:
        orientations.append(
            (
                labels.transpose(0, 2, 1),
                inside.T,
                evidence.values.transpose(0, 2, 1),
                voxel_index.transpose(0, 2, 1),
            )
        )
    voxels = volume.shape[0] * np.count_nonzero(inside)
    for _ in range(max_sweeps):
        changed = 0
        for lab, ins, evid, index in orientations:
            for row in (0, 1):
                for start in range(2 * block_voxels):
                    moved, level_change = _update_sublattice(
                        lab, ins, evid, index, model, penalty, block_voxels, row, start
                    )
                    evidence.update(labels, moved, level_change)
                    changed += moved.size
        if changed < CONVERGED_FRACTION * voxels:
            break
    return labels


def _around(sigma_voxels: float) -> tuple[float, float]:
    """σ bounds of a refit: `REFIT_SIGMA_SPAN_VOXELS` either side, within the full range."""
    low, high = BLUR_SIGMA_RANGE_VOXELS
    return (
        max(low, sigma_voxels - REFIT_SIGMA_SPAN_VOXELS),
        min(high, sigma_voxels + REFIT_SIGMA_SPAN_VOXELS),
    )


def segment(volume: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, BlurModel]:
    """Three-phase segmentation of a reconstructed volume.

    Otsu thresholds start it; then `SINGLE_VOXEL_ROUNDS` rounds of fitting the blur model to
    the labels and refining the labels voxel by voxel under it; then a last fit and
    `PAIR_SWEEPS` sweeps of pair moves. Refits search σ near the last fit's.

    Parameters
    ----------
    volume
        Reconstruction (z, y, x), attenuation per voxel, 0 outside the cylinder.
    inside
        Boolean (y, x) cylinder mask.

    Returns
    -------
    labels
        uint8 (z, y, x) labels of `conventions.voxels`.
    model
        The blur model of the last fit.
    """
    labels = threshold_labels(volume, inside)
    bounds = BLUR_SIGMA_RANGE_VOXELS
    for _ in range(SINGLE_VOXEL_ROUNDS):
        model = fit_blur_model(volume, labels, inside, bounds)
        labels = refine_labels(volume, labels, inside, model)
        bounds = _around(model.sigma_voxels)
    model = fit_blur_model(volume, labels, inside, bounds)
    labels = refine_labels(volume, labels, inside, model, block_voxels=2, max_sweeps=PAIR_SWEEPS)
    return labels, model
