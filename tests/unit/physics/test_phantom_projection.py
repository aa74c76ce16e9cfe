"""Voxel metrics, the phantom generator, the projector and the detector model."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.transform import iradon

from conventions.voxels import (
    ACTIVE,
    ELECTROLYTE,
    OUTSIDE,
    VOID,
    contact_rates,
    cylinder_mask,
    geometric_tortuosity,
    histogram_mode,
    measure,
    phase_fractions,
)
from simulated_devices.physics import projection
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.noise_bank import NormalBank
from simulated_devices.physics.parameters import CellParameters, ImagingParameters
from simulated_devices.physics.phantom import Phantom, make_phantom, phantom_imaging
from simulated_devices.physics.projection import (
    DetectorModel,
    ParallelBeamProjector,
    attenuation_volume,
    linear_resampling,
)

PRESSURES_MPA = [6.0, 12.0, 25.0, 50.0, 100.0]
PARAMS = CellParameters()
SMALL = dataclasses.replace(
    PARAMS.imaging, diameter_voxels=64, electrode_slices=16, electrolyte_slices=8
)


# --- voxel metrics on hand-built volumes ----------------------------------------------------


def cube_in_electrolyte() -> np.ndarray:
    labels = np.full((6, 6, 6), ELECTROLYTE, dtype=np.uint8)
    labels[2:4, 2:4, 2:4] = ACTIVE
    return labels


def test_phase_fractions_ignore_outside():
    labels = np.array([VOID, ELECTROLYTE, ELECTROLYTE, ACTIVE, OUTSIDE, OUTSIDE], np.uint8)
    assert phase_fractions(labels) == pytest.approx(
        {"void": 0.25, "electrolyte": 0.5, "active": 0.25}
    )


def test_cube_fully_wetted_has_contact_rate_one():
    assert contact_rates(cube_in_electrolyte()) == pytest.approx((1.0, 1.0, 1.0))


def test_void_beside_cube_in_x_lowers_xy_contact_only():
    labels = cube_in_electrolyte()
    labels[2:4, 2:4, 4] = VOID  # covers the cube's +x face: 4 of its 16 x/y faces
    rate, rate_z, rate_xy = contact_rates(labels)
    assert rate == pytest.approx(20 / 24)
    assert rate_z == pytest.approx(1.0)
    assert rate_xy == pytest.approx(12 / 16)
    metrics = measure(np.concatenate([labels, labels]), electrode_slices=6)
    assert metrics.contact_anisotropy == pytest.approx(16 / 12)


def test_faces_against_outside_are_not_surface():
    labels = cube_in_electrolyte()
    labels[4, 2:4, 2:4] = OUTSIDE  # under the cube's bottom face
    labels[2:4, 2:4, 1] = VOID  # beside its -x face
    rate, rate_z, rate_xy = contact_rates(labels)
    assert rate_z == pytest.approx(1.0)  # 4 of 8 z-faces left, all on electrolyte
    assert rate_xy == pytest.approx(12 / 16)
    assert rate == pytest.approx(16 / 20)


def test_straight_electrolyte_column_has_tortuosity_one():
    labels = np.full((12, 5, 5), ACTIVE, dtype=np.uint8)
    labels[:, 2, 2] = ELECTROLYTE
    result = geometric_tortuosity(labels, voxel_size=0.5)
    assert result["minimum"] == pytest.approx(1.0)
    assert result["mean"] == pytest.approx(1.0)
    assert result["mode"] == pytest.approx(1.01)  # centre of the bin [1.00, 1.02)


def test_staircases_have_diagonal_tortuosity():
    labels = np.full((9, 14, 14), VOID, dtype=np.uint8)
    labels[:, 1, 1] = ELECTROLYTE  # straight: 1
    for z in range(9):
        labels[z, 4, 4 + z] = ELECTROLYTE  # one step in x per slice: √2
    diagonal_xy = np.full((9, 12, 12), VOID, dtype=np.uint8)
    for z in range(9):
        diagonal_xy[z, 1 + z, 1 + z] = ELECTROLYTE  # one step in x and y per slice: √3
    result = geometric_tortuosity(labels)
    assert sorted(result["values"]) == pytest.approx([1.0, math.sqrt(2)])
    assert result["mean"] == pytest.approx((1 + math.sqrt(2)) / 2)
    assert result["minimum"] == pytest.approx(1.0)
    assert geometric_tortuosity(diagonal_xy)["values"] == pytest.approx([math.sqrt(3)])


def test_blocked_layer_has_no_tortuosity():
    labels = np.full((6, 4, 4), ELECTROLYTE, dtype=np.uint8)
    labels[3] = VOID
    result = geometric_tortuosity(labels)
    assert result["values"].size == 0 and math.isnan(result["mode"])


def test_histogram_mode_is_centre_of_fullest_bin():
    assert histogram_mode(np.array([1.0, 1.005, 1.019, 1.5, 1.51])) == pytest.approx(1.01)
    assert histogram_mode(np.array([1.3, 1.33, 1.35, 1.351])) == pytest.approx(1.35)


# --- phantom ---------------------------------------------------------------------------------


def build(pressure_MPa: float, imaging: ImagingParameters = SMALL, seed: int = 0) -> Phantom:
    return make_phantom(
        microstructure_at(pressure_MPa, PARAMS), imaging, np.random.default_rng(seed)
    )


def test_same_seed_gives_identical_labels():
    first, again, other = build(25.0), build(25.0), build(25.0, seed=1)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert first.truth == again.truth
    assert not np.array_equal(first.labels, other.labels)


def test_phantom_layout():
    phantom = build(12.0)
    labels = phantom.labels
    assert labels.dtype == np.uint8 and labels.shape == (24, 64, 64)
    assert set(np.unique(labels)) <= {VOID, ELECTROLYTE, ACTIVE, OUTSIDE}
    outside = ~cylinder_mask(64)
    assert np.all(labels[:, outside] == OUTSIDE) and not np.any(labels[:, ~outside] == OUTSIDE)
    assert not np.any(labels[16:] == ACTIVE) and np.any(labels[:16] == ACTIVE)
    assert phantom.electrode_slices == 16 and phantom.voxel_size_um == SMALL.voxel_size_um
    assert phantom.truth == measure(labels, 16)
    assert set(phantom.truth.as_dict()) >= {
        "porosity_electrode",
        "contact_anisotropy",
        "tortuosity_mode",
    }


@pytest.mark.parametrize("pressure", PRESSURES_MPA)
def test_small_phantom_tracks_targets(pressure):
    phantom = build(pressure)
    truth, target = phantom.truth, phantom.target
    assert truth.porosity_electrode == pytest.approx(target.porosity_electrode, abs=0.015)
    assert truth.porosity_electrolyte == pytest.approx(target.porosity_electrolyte, abs=0.015)
    assert truth.active_fraction_electrode == pytest.approx(
        target.active_fraction_electrode, abs=0.02
    )
    assert truth.contact_rate == pytest.approx(target.contact_rate, rel=0.1)
    assert truth.contact_anisotropy == pytest.approx(target.contact_anisotropy, rel=0.1)


@pytest.fixture(scope="module")
def default_series():
    return [build(p, PARAMS.imaging) for p in PRESSURES_MPA]


def test_default_phantoms_track_targets_and_trends(default_series):
    phantoms = default_series
    assert phantoms[0].labels.shape == (64, 256, 256)
    truths = [p.truth for p in phantoms]
    for phantom in phantoms:
        truth, target = phantom.truth, phantom.target
        assert truth.porosity_electrode == pytest.approx(target.porosity_electrode, abs=0.015)
        assert truth.porosity_electrolyte == pytest.approx(target.porosity_electrolyte, abs=0.015)
        assert truth.contact_rate == pytest.approx(target.contact_rate, rel=0.1)
        assert truth.contact_anisotropy == pytest.approx(target.contact_anisotropy, rel=0.1)
        assert truth.contact_anisotropy > 1.0
        # Voids beside particles in x/y: their x/y faces are less wetted than their z faces.
        assert truth.contact_rate_z > truth.contact_rate_xy
    assert np.all(np.diff([t.porosity_electrode for t in truths]) < 0)
    assert np.all(np.diff([t.porosity_electrolyte for t in truths]) < 0)
    assert truths[-1].porosity_electrolyte == pytest.approx(0.05, abs=0.005)
    assert truths[-1].porosity_electrode == pytest.approx(0.23, abs=0.015)
    low = max(truths[0].contact_rate, truths[1].contact_rate)
    high = min(truths[3].contact_rate, truths[4].contact_rate)
    assert high > low + 0.03  # the paper's ≈ +10 % from ≤ 12 to ≥ 50 MPa
    # Tortuosity of the electrolyte path falls from 6 to 50 MPa, rises again at 100 MPa.
    assert truths[0].tortuosity_mode > truths[3].tortuosity_mode
    assert truths[0].tortuosity_mean > truths[3].tortuosity_mean
    assert truths[4].tortuosity_mean > truths[3].tortuosity_mean
    assert all(t.tortuosity_minimum >= 1.0 for t in truths)


# --- projection ------------------------------------------------------------------------------


def uniform_cylinder(imaging: ImagingParameters) -> Phantom:
    n = imaging.diameter_voxels
    labels = np.full(
        (imaging.electrode_slices + imaging.electrolyte_slices, n, n), ELECTROLYTE, dtype=np.uint8
    )
    labels[:, ~cylinder_mask(n)] = OUTSIDE
    return Phantom(
        labels=labels,
        electrode_slices=imaging.electrode_slices,
        voxel_size_um=imaging.voxel_size_um,
        truth=measure(labels, imaging.electrode_slices),
        target=microstructure_at(50.0, PARAMS),
    )


def test_attenuation_per_label_and_energy_scaling():
    phantom = build(25.0)
    volume = attenuation_volume(phantom, SMALL)
    assert volume.dtype == np.float32 and volume.shape == phantom.labels.shape
    voxel_cm = SMALL.voxel_size_um * 1e-4
    labels = phantom.labels
    assert np.allclose(volume[labels == ACTIVE], SMALL.attenuation_active_per_cm * voxel_cm)
    assert np.allclose(
        volume[labels == ELECTROLYTE], SMALL.attenuation_electrolyte_per_cm * voxel_cm
    )
    assert np.all(volume[labels == OUTSIDE] == 0.0)
    doubled = attenuation_volume(phantom, dataclasses.replace(SMALL, beam_energy_keV=40.0))
    np.testing.assert_allclose(doubled, volume / 8.0, rtol=1e-6)


@pytest.mark.parametrize("angle", [0.0, 30.0, 117.0])
def test_uniform_cylinder_projects_to_chord_lengths(angle):
    phantom = uniform_cylinder(SMALL)
    volume = attenuation_volume(phantom, SMALL)
    projector = ParallelBeamProjector(volume)
    line_integrals = projector.project(angle)
    assert line_integrals.shape == projector.frame_shape == (24, 64)
    mu_dx = SMALL.attenuation_electrolyte_per_cm * SMALL.voxel_size_um * 1e-4
    offset = np.arange(64) - 31.5
    chord = 2.0 * np.sqrt(np.clip(32.0**2 - offset**2, 0.0, None))
    interior = np.abs(offset) < 28
    # Within about one voxel of the analytic chord: the voxelised circle's edge is ragged.
    np.testing.assert_allclose(
        line_integrals[:, interior],
        np.broadcast_to(mu_dx * chord[interior], (24, interior.sum())),
        atol=1.2 * mu_dx,
    )
    assert line_integrals.sum() == pytest.approx(volume.sum(), rel=0.01)


def test_projector_matches_ndimage_rotate():
    volume = attenuation_volume(build(50.0), SMALL)
    reference = ndimage.rotate(
        volume, 23.0, axes=(1, 2), order=1, reshape=False, mode="grid-constant"
    ).sum(axis=1)
    np.testing.assert_allclose(ParallelBeamProjector(volume).project(23.0), reference, atol=1e-5)


def test_filtered_back_projection_recovers_the_slice():
    n = 64
    yy, xx = np.mgrid[:n, :n]
    centre = (n - 1) / 2
    slice_ = np.zeros((n, n), np.float32)
    slice_[(yy - centre) ** 2 + (xx - centre) ** 2 <= (n / 2 - 1) ** 2] = 0.01
    slice_[(yy - 20) ** 2 + (xx - 40) ** 2 <= 36] = 0.03
    projector = ParallelBeamProjector(slice_[np.newaxis])
    angles = np.arange(0.0, 180.0, 1.0)
    sinogram = np.stack([projector.project(a)[0] for a in angles], axis=1)
    # Our angle θ is skimage's −θ.
    reconstruction = iradon(sinogram, theta=-angles, filter_name="ramp", circle=True)
    inner = (yy - centre) ** 2 + (xx - centre) ** 2 <= (n / 2 - 3) ** 2
    assert np.corrcoef(reconstruction[inner], slice_[inner])[0, 1] > 0.9
    assert reconstruction[20, 40] == pytest.approx(0.03, rel=0.1)
    assert reconstruction[44, 24] == pytest.approx(0.01, rel=0.1)


# --- detector --------------------------------------------------------------------------------


def detector(seed: int = 0, imaging: ImagingParameters = SMALL) -> DetectorModel:
    return DetectorModel(imaging, np.random.default_rng(seed))


def test_detector_gain_map_is_fixed_and_seeded():
    first, again = detector(), detector()
    assert first.frame_shape == (24, 64)
    np.testing.assert_array_equal(first.gain, again.gain)
    columns = first.gain.mean(axis=0)
    assert columns.std() == pytest.approx(SMALL.flat_field_nonuniformity, rel=0.35)
    assert first.gain.mean() == pytest.approx(1.0, abs=0.03)
    first.flat()
    np.testing.assert_array_equal(first.gain, again.gain)


def test_dark_frame_statistics():
    model = detector()
    darks = np.stack([model.dark() for _ in range(50)]).astype(float)
    assert model.dark().dtype == np.uint16
    assert darks.mean() == pytest.approx(SMALL.dark_counts, rel=0.01)
    expected_std = math.sqrt(SMALL.dark_counts + model.readout_noise_counts**2)
    assert darks.std() == pytest.approx(expected_std, rel=0.05)


def test_flat_and_projection_mean_counts():
    model = detector()
    flats = np.stack([model.flat() for _ in range(40)]).astype(float)
    expected_flat = SMALL.flat_field_photons * model.gain + SMALL.dark_counts
    np.testing.assert_allclose(flats.mean(axis=0), expected_flat, rtol=0.02)
    # Photon noise: variance ≈ mean.
    assert flats.var(axis=0).mean() == pytest.approx(expected_flat.mean(), rel=0.1)

    line_integrals = np.linspace(0.0, 3.0, 24 * 64).reshape(24, 64)
    frames = np.stack([model.projection(line_integrals) for _ in range(40)]).astype(float)
    expected = SMALL.flat_field_photons * model.gain * np.exp(-line_integrals) + SMALL.dark_counts
    np.testing.assert_allclose(frames.mean(axis=0), expected, rtol=0.03)
    np.testing.assert_allclose(model.expected_counts(line_integrals), expected)
    with pytest.raises(ValueError):
        model.projection(np.zeros((3, 3)))


def test_counts_saturate_at_uint16():
    bright = DetectorModel(
        dataclasses.replace(SMALL, flat_field_photons=1e6), np.random.default_rng(1)
    )
    frame = bright.flat()
    assert frame.dtype == np.uint16 and frame.max() == 65535


# --- detectors finer than the phantom ---------------------------------------------------------


def test_a_detector_within_the_phantom_limit_sees_the_phantom_at_its_pixels():
    assert phantom_imaging(PARAMS.imaging) is PARAMS.imaging


def test_a_paper_scale_detector_sees_a_phantom_of_coarser_voxels():
    paper = dataclasses.replace(
        PARAMS.imaging,
        diameter_voxels=2048,
        electrode_slices=1536,
        electrolyte_slices=512,
        voxel_size_um=0.5,
    )
    coarse = phantom_imaging(paper)
    assert (coarse.diameter_voxels, coarse.electrode_slices, coarse.electrolyte_slices) == (
        256,
        192,
        64,
    )
    assert coarse.voxel_size_um == 8 * paper.voxel_size_um  # the same cell, in µm
    assert coarse.particle_diameter_um == paper.particle_diameter_um


def test_linear_resampling_keeps_constants_and_ramps():
    resampling = linear_resampling(12, 3)
    np.testing.assert_allclose(resampling @ np.full(3, 2.0), 2.0, rtol=1e-6)
    # Fine centres 0.5/12 … 11.5/12 of the length; coarse 1/6, 1/2, 5/6: a ramp through the
    # coarse samples is the ramp between the outermost coarse centres, flat beyond them.
    fine = resampling @ np.array([1.0, 2.0, 3.0])
    position = np.clip((np.arange(12) + 0.5) / 4.0 - 0.5, 0.0, 2.0)
    np.testing.assert_allclose(fine, 1.0 + position, rtol=1e-6)


def test_a_finer_detector_sees_the_chords_of_the_same_cylinder():
    fine = dataclasses.replace(
        SMALL, diameter_voxels=256, electrode_slices=64, electrolyte_slices=32
    )
    limited = dataclasses.replace(fine, max_phantom_voxels=64)
    coarse = phantom_imaging(limited)
    phantom = uniform_cylinder(coarse)
    projector = ParallelBeamProjector(attenuation_volume(phantom, coarse), frame_shape=(96, 256))
    line_integrals = projector.project(30.0)
    assert line_integrals.shape == projector.frame_shape == (96, 256)
    # The chord through the 256 µm cylinder, in μ·Δx of the fine pixels' cylinder.
    mu_cm = fine.attenuation_electrolyte_per_cm
    offset_um = (np.arange(256) - 127.5) * fine.voxel_size_um
    chord_um = 2.0 * np.sqrt(np.clip(128.0**2 - offset_um**2, 0.0, None))
    interior = np.abs(offset_um) < 110
    np.testing.assert_allclose(
        line_integrals[:, interior],
        np.broadcast_to(mu_cm * chord_um[interior] * 1e-4, (96, interior.sum())),
        atol=1.5 * mu_cm * coarse.voxel_size_um * 1e-4,  # a coarse voxel's ragged edge
    )


def test_large_frames_take_the_normal_approximation_of_the_same_noise(monkeypatch):
    monkeypatch.setattr(projection, "EXACT_NOISE_MAX_PIXELS", 100)  # SMALL's 24 × 64 is large
    model = detector()
    assert model._normal is not None
    darks = np.stack([model.dark() for _ in range(50)]).astype(float)
    assert darks.mean() == pytest.approx(SMALL.dark_counts, rel=0.01)
    expected_std = math.sqrt(SMALL.dark_counts + model.readout_noise_counts**2)
    assert darks.std() == pytest.approx(expected_std, rel=0.05)
    line_integrals = np.linspace(0.0, 3.0, 24 * 64).reshape(24, 64)
    frames = np.stack([model.projection(line_integrals) for _ in range(40)]).astype(float)
    expected = SMALL.flat_field_photons * model.gain * np.exp(-line_integrals) + SMALL.dark_counts
    np.testing.assert_allclose(frames.mean(axis=0), expected, rtol=0.03)
    flats = np.stack([model.flat() for _ in range(40)]).astype(float)
    assert flats.var(axis=0).mean() == pytest.approx(flats.mean(), rel=0.1)


def test_normal_bank_frames_are_standard_normal_and_renewed():
    bank = NormalBank(10_000, np.random.default_rng(3))
    first = bank.draw().copy()
    second = bank.draw()
    assert first.mean() == pytest.approx(0.0, abs=0.05)
    assert first.std() == pytest.approx(1.0, rel=0.05)
    assert not np.array_equal(first, second)
    with pytest.raises(ValueError):
        second[0] = 0.0  # a view into the bank: read-only
