"""Fly CT over real Channel Access: the position compare triggers the camera as it rotates."""

from __future__ import annotations

from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import h5py
import numpy as np
import pytest
from bluesky.utils import FailedStatus

from devices.rotation_flyer import FlyScanError, FlySpec, RotationFlyer
from plans.ct import CTSettings, FlyPass


def frames_of(documents) -> np.ndarray:
    """The frames of the (one) detector file among ``documents``, as floats."""
    for name, doc in documents:
        if name == "resource":
            path = Path(doc["root"]) / doc["resource_path"]
        elif name == "stream_resource" and doc["data_key"] == "det_image":
            path = Path(doc["uri"].removeprefix("file://localhost"))
    with h5py.File(path, "r") as handle:
        return handle["/entry/data/data"][()].astype(float)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def fly(RE, flyer, settings):
    """One fly pass in its own run; returns the documents."""
    RE.documents.clear()
    RE(bpp.run_wrapper(FlyPass(flyer, settings).plan()))
    return RE.documents


@pytest.fixture
def in_beam(RE, station):
    stage = station.tomo_stage
    RE(bps.mv(stage.shutter, "Open", stage.sample_x, 0.0))
    yield
    RE(bps.mv(stage.shutter, "Closed"))


def test_fly_scan_takes_one_frame_per_angle_at_the_latched_angles(RE, station, in_beam):
    settings = CTSettings(num_projections=19, start_deg=0.0, stop_deg=180.0, exposure_s=0.05)
    flyer = RotationFlyer(station.tomo_stage, station.detector, station.position_compare)
    documents = fly(RE, flyer, settings)

    descriptor = next(doc for name, doc in documents if name == "descriptor")
    assert descriptor["name"] == "projection"
    assert descriptor["data_keys"]["tomo_rotation"]["units"] == "deg"
    assert {key["external"] for key in descriptor["data_keys"].values()} == {"STREAM:"}
    resources = {doc["uid"]: doc for name, doc in documents if name == "stream_resource"}
    assert {r["data_key"] for r in resources.values()} == {"det_image", "tomo_rotation"}
    datums = [doc for name, doc in documents if name == "stream_datum"]
    assert len(datums) == 2  # one per data key for the whole pass
    assert all(d["indices"] == {"start": 0, "stop": 19} for d in datums)
    assert all(d["seq_nums"] == {"start": 1, "stop": 20} for d in datums)
    assert not [name for name, _ in documents if name in ("event", "event_page", "datum")]

    by_key = {r["data_key"]: r for r in resources.values()}
    with h5py.File(by_key["det_image"]["uri"].removeprefix("file://localhost"), "r") as handle:
        angles = handle[by_key["tomo_rotation"]["parameters"]["dataset"]][()]
    np.testing.assert_allclose(angles, settings.angles_deg(), atol=1e-9)
    # The pulses came one exposure + readout apart in experiment time.
    times = np.asarray(station.position_compare.times_s.get(use_monitor=False))[:19]
    np.testing.assert_allclose(np.diff(times), settings.exposure_s + flyer.readout_s, atol=1e-6)

    frames = frames_of(documents)
    size = station.detector.cam.array_size
    assert frames.shape == (19, size.array_size_y.get(), size.array_size_x.get())
    # Parallel beam: the 180° projection is the 0° one mirrored, and unlike the 90° one
    # (compared flat-field normalised, so the detector's fixed gain pattern drops out).
    RE(bps.mv(station.tomo_stage.sample_x, 5.0))
    RE.documents.clear()
    RE(bp.count([station.detector], num=3))
    RE(bps.mv(station.tomo_stage.sample_x, 0.0))
    flat = frames_of(RE.documents).mean(axis=0)
    transmission = frames / flat
    first, last, middle = transmission[0], transmission[-1][:, ::-1], transmission[9]
    assert correlation(first, last) > 0.9
    assert correlation(first, middle) < correlation(first, last) - 0.2


def test_fly_scan_restores_the_stage_and_camera_settings(RE, station, in_beam):
    rotation, cam = station.tomo_stage.rotation, station.detector.cam
    before = (rotation.velocity.get(), cam.trigger_mode.get(), cam.num_images.get())
    flyer = RotationFlyer(station.tomo_stage, station.detector, station.position_compare)
    fly(RE, flyer, CTSettings(num_projections=5, start_deg=10.0, stop_deg=50.0))
    assert (rotation.velocity.get(), cam.trigger_mode.get(), cam.num_images.get()) == before
    assert station.position_compare.armed.get(use_monitor=False) == 0


class _MissedPulsesFlyer(RotationFlyer):
    """A flyer whose rotation stops short of the last angles (as a stalled axis would)."""

    def travel_deg(self, spec: FlySpec) -> tuple[float, float]:
        start, _ = super().travel_deg(spec)
        return start, spec.start_deg + spec.step_deg * (spec.num_frames // 2)


def test_a_stalled_fly_scan_fails_and_leaves_the_camera_idle(RE, station, in_beam):
    flyer = _MissedPulsesFlyer(
        station.tomo_stage, station.detector, station.position_compare, stall_timeout_s=0.5
    )
    with pytest.raises(FailedStatus) as failure:
        fly(RE, flyer, CTSettings(num_projections=9, start_deg=0.0, stop_deg=80.0))
    assert isinstance(failure.value.__cause__, FlyScanError)
    assert "stalled at frame 5 of 9" in str(failure.value.__cause__)
    cam = station.detector.cam
    assert cam.acquire.get(use_monitor=False) == 0
    assert cam.trigger_mode.get(use_monitor=False) == 0  # back to Internal
    assert station.position_compare.armed.get(use_monitor=False) == 0
    stop = [doc for name, doc in RE.documents if name == "stop"]
    assert stop and stop[0]["exit_status"] == "fail"
