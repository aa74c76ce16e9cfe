"""CT analysis against the phantom's exact truth: correction, reconstruction, segmentation,
metrics (no EPICS: frames come from the simulator's projector and detector directly)."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.transform import iradon

from acq.analysis.ct import CTAnalysis, analyse_ct, find_electrode_slices
from acq.analysis.ct_reconstruction import (
    MIN_TRANSMISSION,
    angle_weights_rad,
    backproject,
    filter_rows,
    line_integrals,
    reconstruct,
)
from acq.analysis.ct_segmentation import (
    BlurModel,
    ResidualEvidence,
    blur_matrix,
    blur_xy,
    fit_blur_model,
    segment,
    threshold_labels,
)
from conventions.voxels import (
    ACTIVE,
    ELECTROLYTE,
    OUTSIDE,
    VOID,
    VolumeMetrics,
    cylinder_mask,
    measure,
)
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters
from simulated_devices.physics.phantom import Phantom, make_phantom
from simulated_devices.physics.projection import (
    DetectorModel,
    ParallelBeamProjector,
    attenuation_volume,
)

#: The demo's scan: 361 projections over 0–180° inclusive, 10 darks and 10 flats.
DEMO_ANGLES_DEG = np.linspace(0.0, 180.0, 361)
DARKS = FLATS = 10
DEFAULT = CellParameters()
#: Another cell: 6 µm particles and a lower porosity law.
SIX_MICRON = CellParameters.from_mapping(
    {
        "imaging": {"particle_diameter_um": 6.0},
        "compaction": {"electrode_porosity_limit": 0.15, "porosity_uncompressed": 0.40},
    }
)
SMALL = CellParameters.from_mapping(
    {"imaging": {"diameter_voxels": 64, "electrode_slices": 16, "electrolyte_slices": 8}}
)

# Accuracy required against the phantom's truth at the demo's settings.
POROSITY_TOLERANCE = 0.02  # absolute (2 percentage points), each layer
CONTACT_RATE_TOLERANCE = 0.12  # relative
ANISOTROPY_TOLERANCE = 0.10  # relative
TORTUOSITY_TOLERANCE = 0.05  # relative
# Known bias of the estimator (acq.analysis.ct_segmentation), relative to the truth.
ANISOTROPY_BIAS_RANGE = (-0.09, 0.0)
CONTACT_BIAS_RANGE = (-0.04, 0.04)


@dataclasses.dataclass(frozen=True)
class Scan:
    """One simulated CT scan and the phantom it was taken of."""

    projections: np.ndarray
    darks: np.ndarray
    flats: np.ndarray
    angles_deg: np.ndarray
    phantom: Phantom


@functools.cache
def scan(params: CellParameters, pressure_MPa: float, seed: int = 0) -> Scan:
    """Frames exactly as the instrument records them (simulated_devices/cell.py)."""
    phantom = make_phantom(
        microstructure_at(pressure_MPa, params), params.imaging, np.random.default_rng(seed)
    )
    projector = ParallelBeamProjector(attenuation_volume(phantom, params.imaging))
    detector = DetectorModel(params.imaging, np.random.default_rng(1))
    projections = np.stack([detector.projection(projector.project(a)) for a in DEMO_ANGLES_DEG])
    darks = np.stack([detector.dark() for _ in range(DARKS)])
    flats = np.stack([detector.flat() for _ in range(FLATS)])
    return Scan(projections, darks, flats, DEMO_ANGLES_DEG, phantom)


@functools.cache
def analysed(params: CellParameters, pressure_MPa: float, seed: int = 0) -> CTAnalysis:
    frames = scan(params, pressure_MPa, seed)
    return analyse_ct(
        frames.projections,
        frames.darks,
        frames.flats,
        frames.angles_deg,
        voxel_size_um=params.imaging.voxel_size_um,
    )


def relative_error(measured: float, truth: float) -> float:
    return measured / truth - 1.0


def assert_layers_and_contact(result: VolumeMetrics, truth: VolumeMetrics) -> None:
    assert result.porosity_electrode == pytest.approx(
        truth.porosity_electrode, abs=POROSITY_TOLERANCE
    )
    assert result.porosity_electrolyte == pytest.approx(
        truth.porosity_electrolyte, abs=POROSITY_TOLERANCE
    )
    assert result.contact_rate == pytest.approx(truth.contact_rate, rel=CONTACT_RATE_TOLERANCE)
    assert result.contact_anisotropy == pytest.approx(
        truth.contact_anisotropy, rel=ANISOTROPY_TOLERANCE
    )


def disc_slice(n: int) -> np.ndarray:
    """A (1, n, n) attenuation slice: a disc of 0.01 with a brighter and a void inclusion."""
    centre = (n - 1) / 2.0
    yy, xx = np.mgrid[:n, :n]
    image = np.where((yy - centre) ** 2 + (xx - centre) ** 2 <= (n / 2 - 2) ** 2, 0.01, 0.0)
    image[(yy - n // 3) ** 2 + (xx - 2 * n // 3) ** 2 <= (n // 10) ** 2] = 0.03
    image[(yy - 2 * n // 3) ** 2 + (xx - n // 3) ** 2 <= (n // 12) ** 2] = 0.0
    return image[np.newaxis].astype(np.float32)


def fbp(slices: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Noise-free projections of (z, n, n) slices, reconstructed by our FBP (z, n, n)."""
    projector = ParallelBeamProjector(slices)
    sinograms = np.stack([projector.project(a) for a in angles_deg])
    n = slices.shape[-1]
    inside = cylinder_mask(n)
    volume = np.zeros(slices.shape, dtype=np.float32)
    volume[:, inside] = backproject(filter_rows(sinograms), angles_deg, inside)
    return volume


# --- flat/dark correction and angles -----------------------------------------------------


def test_line_integrals_undo_flat_and_dark():
    dark = np.full((2, 3, 4), 100, dtype=np.uint16)
    flat = np.full((2, 3, 4), 1100, dtype=np.uint16)
    projection = (100 + 1000 * np.exp(-0.5)) * np.ones((1, 3, 4))
    np.testing.assert_allclose(
        line_integrals(projection.astype(np.uint16), dark, flat), 0.5, atol=2e-3
    )


def test_line_integrals_clip_counts_below_dark():
    dark = np.full((1, 1, 2), 100, dtype=np.uint16)
    flat = np.full((1, 1, 2), 1100, dtype=np.uint16)
    projection = np.array([[[50, 100]]], dtype=np.uint16)
    assert line_integrals(projection, dark, flat) == pytest.approx(-math.log(MIN_TRANSMISSION))


def test_angle_weights_share_the_half_turn():
    weights = angle_weights_rad(DEMO_ANGLES_DEG)
    assert weights.sum() == pytest.approx(math.pi)
    step = math.radians(0.5)
    assert weights[0] == pytest.approx(step / 2) and weights[-1] == pytest.approx(step / 2)
    np.testing.assert_allclose(weights[1:-1], step)


def test_angle_weights_follow_irregular_and_full_turn_angles():
    irregular = angle_weights_rad(np.array([0.0, 10.0, 30.0, 90.0]))
    np.testing.assert_allclose(np.degrees(irregular), [50.0, 15.0, 40.0, 75.0])
    full_turn = angle_weights_rad(np.arange(0.0, 360.0, 1.0))
    np.testing.assert_allclose(full_turn, math.radians(0.5))


# --- reconstruction ----------------------------------------------------------------------


def test_fbp_equals_iradon_on_one_slice():
    """Same geometry as skimage for an odd width (centre (n − 1)/2 = n // 2), same filter,
    same linear interpolation: the same numbers."""
    slice_ = disc_slice(65)
    angles = np.arange(0.0, 180.0, 1.0)
    sinogram = np.stack([ParallelBeamProjector(slice_).project(a)[0] for a in angles], axis=1)
    reference = iradon(sinogram, theta=-angles, filter_name="ramp", circle=True)
    yy, xx = np.mgrid[:65, :65]
    iradon_circle = (yy - 32) ** 2 + (xx - 32) ** 2 <= 32**2  # half a pixel inside ours
    np.testing.assert_allclose(
        fbp(slice_, angles)[0][iradon_circle], reference[iradon_circle], atol=1e-7
    )


def test_fbp_of_an_inclusive_half_turn_matches_iradon():
    """0–180° inclusive: 180° weighs half here, a full step in iradon; otherwise equal."""
    slice_ = disc_slice(65)
    sinogram = np.stack(
        [ParallelBeamProjector(slice_).project(a)[0] for a in DEMO_ANGLES_DEG], axis=1
    )
    reference = iradon(sinogram, theta=-DEMO_ANGLES_DEG, filter_name="ramp", circle=True)
    ours = fbp(slice_, DEMO_ANGLES_DEG)[0]
    inner = ndimage.binary_erosion(cylinder_mask(65), iterations=2)
    rms = np.sqrt(np.mean((ours[inner] - reference[inner]) ** 2))
    assert rms < 0.01 * np.ptp(slice_)


def test_reconstruction_is_quantitative():
    slice_ = disc_slice(64)
    volume = fbp(slice_, DEMO_ANGLES_DEG)
    deep = ndimage.binary_erosion(slice_[0] == 0.01, iterations=3)
    assert np.median(volume[0][deep]) == pytest.approx(0.01, rel=0.02)
    bright = ndimage.binary_erosion(slice_[0] == 0.03, iterations=2)
    assert np.median(volume[0][bright]) == pytest.approx(0.03, rel=0.02)


def test_reconstruct_rejects_inconsistent_frames():
    frames = scan(SMALL, 100.0)
    with pytest.raises(ValueError, match="angles"):
        reconstruct(frames.projections, frames.darks, frames.flats, frames.angles_deg[:-1])
    with pytest.raises(ValueError, match="darks"):
        reconstruct(frames.projections, frames.darks[:, :-1], frames.flats, frames.angles_deg)


# --- segmentation ------------------------------------------------------------------------


def test_blur_is_in_plane_only():
    volume = np.zeros((3, 9, 9), dtype=np.float32)
    volume[1, 4, 4] = 1.0
    result = blur_xy(volume, 1.0)
    assert result[0].sum() == 0.0 and result[2].sum() == 0.0
    assert result[1].sum() == pytest.approx(1.0, abs=1e-3)


def blurred(labels: np.ndarray, model: BlurModel, rng: np.random.Generator) -> np.ndarray:
    """What the reconstruction of ``labels`` looks like under ``model``, with noise."""
    image = model.blur(model.level_image(labels))
    return image + model.noise_rms * rng.standard_normal(image.shape).astype(np.float32)


def test_blur_model_fit_recovers_sigma_and_levels():
    labels = scan(SMALL, 25.0).phantom.labels
    truth = BlurModel(levels=(0.0, 0.003, 0.009), sigma_voxels=0.8, noise_rms=2e-4)
    image = blurred(labels, truth, np.random.default_rng(0))
    fitted = fit_blur_model(image, labels, cylinder_mask(labels.shape[1]))
    assert fitted.sigma_voxels == pytest.approx(0.8, abs=0.03)
    np.testing.assert_allclose(fitted.levels, truth.levels, atol=1e-4)
    assert fitted.noise_rms == pytest.approx(2e-4, rel=0.2)


def test_blur_matrix_is_the_blur_of_a_slice():
    image = np.random.default_rng(0).random((1, 12, 12), dtype=np.float32)
    inside = cylinder_mask(12)
    blur, masked = blur_matrix(inside, 0.7)
    np.testing.assert_allclose(blur @ image.ravel(), blur_xy(image, 0.7).ravel(), atol=1e-6)
    np.testing.assert_allclose(
        masked @ image.ravel(), (blur @ image.ravel()) * inside.ravel(), atol=1e-6
    )


def test_residual_evidence_updated_where_labels_changed_equals_recomputed():
    """The sparse update after a few changed labels, near the rim too, gives the evidence
    that blurring the whole volume again gives."""
    frames = scan(SMALL, 25.0)
    labels = frames.phantom.labels.copy()
    inside = cylinder_mask(labels.shape[1])
    model = BlurModel(levels=(0.0, 0.003, 0.009), sigma_voxels=0.6, noise_rms=2e-4)
    volume = blurred(labels, model, np.random.default_rng(0))
    volume[:, ~inside] = 0.0
    evidence = ResidualEvidence(volume, labels, inside, model)
    rng = np.random.default_rng(1)
    index = rng.choice(np.flatnonzero(np.broadcast_to(inside, labels.shape)), 40, replace=False)
    old = model.level_image(labels.ravel()[index])
    labels.ravel()[index] = np.where(labels.ravel()[index] == ACTIVE, VOID, ACTIVE)
    evidence.update(labels, index, model.level_image(labels.ravel()[index]) - old)
    recomputed = ResidualEvidence(volume, labels, inside, model).values
    assert np.abs(evidence.values - recomputed).max() < 1e-6 * np.abs(recomputed).max() + 1e-9
    assert np.abs(evidence.values - recomputed).max() < 1e-3 * np.abs(old).max()


def test_segment_undoes_the_blur_without_noise():
    """Noise-free blurred phantom: the segmentation finds the thin voids beside particles
    that thresholding reads as electrolyte."""
    phantom = scan(SMALL, 100.0).phantom
    image = blurred(
        phantom.labels, BlurModel((0.0, 0.003, 0.009), 0.6, 0.0), np.random.default_rng(0)
    )
    inside = cylinder_mask(image.shape[1])
    image[:, ~inside] = 0.0
    labels, model = segment(image, inside)
    assert model.sigma_voxels == pytest.approx(0.6, abs=0.02)
    truth, found = phantom.truth, measure(labels, phantom.electrode_slices)
    assert found.contact_rate == pytest.approx(truth.contact_rate, rel=0.02)
    assert found.contact_anisotropy == pytest.approx(truth.contact_anisotropy, rel=0.03)
    thresholded = measure(threshold_labels(image, inside), phantom.electrode_slices)
    assert thresholded.contact_rate > 1.2 * truth.contact_rate


def test_find_electrode_slices_counts_leading_active_slices():
    labels = np.full((6, 4, 4), ELECTROLYTE, dtype=np.uint8)
    labels[:4, 0, :2] = ACTIVE  # 2 of 16 voxels per slice
    labels[5, 0, 0] = ACTIVE  # a stray voxel further down is no electrode
    labels[:, 3, 3] = OUTSIDE
    assert find_electrode_slices(labels) == 4
    labels[:, 0, :2] = VOID
    with pytest.raises(ValueError, match="electrode"):
        find_electrode_slices(labels)


# --- the whole chain on a small volume (fast) ---------------------------------------------


@pytest.mark.parametrize("pressure_MPa", [6.0, 100.0])
def test_small_volume_meets_accuracy(pressure_MPa):
    """64 voxels across, 16 + 8 slices. The tortuosity is compared by its mean: a 16-slice
    crop gives only a few hundred paths, whose histogram mode jumps by bins."""
    truth = scan(SMALL, pressure_MPa).phantom.truth
    result = analysed(SMALL, pressure_MPa)
    assert result.electrode_slices == SMALL.imaging.electrode_slices
    assert_layers_and_contact(result, truth)
    assert result.tortuosity_mean == pytest.approx(truth.tortuosity_mean, rel=TORTUOSITY_TOLERANCE)


def test_given_electrode_slices_are_used():
    frames = scan(SMALL, 100.0)
    given = analyse_ct(
        frames.projections,
        frames.darks,
        frames.flats,
        frames.angles_deg,
        voxel_size_um=1.0,
        electrode_slices=12,
    )
    found = analysed(SMALL, 100.0)
    assert given.electrode_slices == 12
    assert given.contact_rate == found.contact_rate  # a property of the whole volume
    assert given.porosity_electrolyte != found.porosity_electrolyte


def test_result_holds_scalars_and_figure_arrays():
    result = analysed(SMALL, 100.0)
    scalars = result.as_dict()
    metric_names = {field.name for field in dataclasses.fields(VolumeMetrics)}
    assert set(scalars) == metric_names | {"electrode_slices", "blur_sigma_um"}
    assert all(type(value) is float for value in scalars.values())
    assert result.blur_sigma_um == pytest.approx(0.6, abs=0.1)  # 1 µm voxels
    n = SMALL.imaging.diameter_voxels
    assert result.slice.shape == result.segmentation.shape == (n, n)
    assert set(np.unique(result.segmentation)) <= {VOID, ELECTROLYTE, ACTIVE, OUTSIDE}
    assert result.tortuosity_values.ndim == 1 and result.tortuosity_values.size > 0
    assert result.tortuosity_minimum == result.tortuosity_values.min()
    assert result.tortuosity_mean == pytest.approx(result.tortuosity_values.mean())
    with pytest.raises(ValueError):
        result.slice[0, 0] = 1.0  # read-only


def test_rejects_a_non_positive_voxel_size():
    frames = scan(SMALL, 100.0)
    with pytest.raises(ValueError, match="voxel_size_um"):
        analyse_ct(
            frames.projections, frames.darks, frames.flats, frames.angles_deg, voxel_size_um=0.0
        )


# --- the demo's size, against the truth (slow) -------------------------------------------

FULL_SIZE_CASES = [(DEFAULT, 6.0), (DEFAULT, 100.0), (SIX_MICRON, 6.0), (SIX_MICRON, 100.0)]
FULL_SIZE_IDS = ["default-6MPa", "default-100MPa", "6um-6MPa", "6um-100MPa"]


@pytest.mark.slow
@pytest.mark.parametrize(("params", "pressure_MPa"), FULL_SIZE_CASES, ids=FULL_SIZE_IDS)
def test_demo_size_meets_accuracy(params, pressure_MPa):
    truth = scan(params, pressure_MPa).phantom.truth
    result = analysed(params, pressure_MPa)
    assert result.electrode_slices == params.imaging.electrode_slices
    assert_layers_and_contact(result, truth)
    assert result.tortuosity_mode == pytest.approx(truth.tortuosity_mode, rel=TORTUOSITY_TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize(("params", "pressure_MPa"), FULL_SIZE_CASES, ids=FULL_SIZE_IDS)
def test_demo_size_bias_is_as_documented(params, pressure_MPa):
    """Anisotropy underestimated (documented: by 2.5–7 %), contact rate within ±2.5 %
    (documented); the asserted ranges leave a margin."""
    truth = scan(params, pressure_MPa).phantom.truth
    result = analysed(params, pressure_MPa)
    low, high = ANISOTROPY_BIAS_RANGE
    assert low <= relative_error(result.contact_anisotropy, truth.contact_anisotropy) <= high
    low, high = CONTACT_BIAS_RANGE
    assert low <= relative_error(result.contact_rate, truth.contact_rate) <= high


@pytest.mark.slow
def test_thresholding_alone_overestimates_contact():
    """Why the blur model is there: multi-Otsu on the same reconstruction reads every
    particle/void boundary as electrolyte."""
    frames = scan(DEFAULT, 100.0)
    volume, inside = reconstruct(frames.projections, frames.darks, frames.flats, frames.angles_deg)
    truth = frames.phantom.truth
    thresholded = measure(threshold_labels(volume, inside), frames.phantom.electrode_slices)
    assert relative_error(thresholded.contact_rate, truth.contact_rate) > 0.2
    assert relative_error(thresholded.contact_anisotropy, truth.contact_anisotropy) < -0.15
