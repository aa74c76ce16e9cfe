"""Tomography stage and area detector over real Channel Access: frames land in HDF5."""

from __future__ import annotations

from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import epics
import h5py
import numpy as np
import pytest
from caproto.threading.client import Context
from ophyd.utils.errors import LimitError

from simulated_devices.physics.parameters import ImagingParameters
from simulated_devices.tomography import STATUS_ACQUIRING, STATUS_IDLE
from tests.system.messages import read_message


@pytest.fixture(scope="module")
def frame_shape(station_config):
    imaging = station_config.simulation.parameters["imaging"]
    return (
        imaging["electrode_slices"] + imaging["electrolyte_slices"],
        imaging["diameter_voxels"],
    )


def frames_of(RE, station, stream_setup, num=3):
    """Take ``num`` frames after ``stream_setup``; return (documents, frames from HDF5)."""
    RE(bps.mv(*stream_setup))
    RE.documents.clear()
    RE(bp.count([station.detector], num=num))
    resources = [doc for name, doc in RE.documents if name == "resource"]
    assert len(resources) == 1 and resources[0]["spec"] == "AD_HDF5"
    path = Path(resources[0]["root"]) / resources[0]["resource_path"]
    with h5py.File(path, "r", swmr=True) as handle:
        frames = handle["/entry/data/data"][()]
    return RE.documents, frames


def test_projections_are_written_to_hdf5_and_referenced_by_datum(
    RE, station, frame_shape, station_config
):
    """The detector writes frames of the configured shape under the frames directory."""
    stage = station.tomo_stage
    documents, frames = frames_of(
        RE, station, (stage.shutter, "Open", stage.sample_x, 0.0, stage.rotation, 30.0)
    )
    assert frames.shape == (3, *frame_shape) and frames.dtype == np.uint16
    datums = [doc for name, doc in documents if name == "datum"]
    events = [doc for name, doc in documents if name == "event"]
    assert len(datums) == len(events) == 3
    assert [e["data"]["det_image"] for e in events] == [d["datum_id"] for d in datums]
    descriptor = next(doc for name, doc in documents if name == "descriptor")
    assert tuple(descriptor["data_keys"]["det_image"]["shape"][-2:]) == frame_shape
    resource = next(doc for name, doc in documents if name == "resource")
    path = Path(resource["root"]) / resource["resource_path"]
    assert path.is_relative_to(station_config.frames_dir)


def test_darks_flats_and_projections_have_the_expected_counts(RE, station, frame_shape):
    stage = station.tomo_stage
    imaging = ImagingParameters()
    _, darks = frames_of(RE, station, (stage.shutter, "Closed"))
    _, flats = frames_of(RE, station, (stage.shutter, "Open", stage.sample_x, 5.0))
    _, projections = frames_of(RE, station, (stage.sample_x, 0.0))
    assert darks.mean() == pytest.approx(imaging.dark_counts, rel=0.1)
    assert flats.mean() == pytest.approx(imaging.flat_field_photons + imaging.dark_counts, rel=0.1)
    assert projections.mean() < 0.95 * flats.mean()
    RE(bps.mv(stage.shutter, "Closed"))


def test_rotation_refuses_travel_beyond_its_limits_before_moving(station):
    rotation = station.tomo_stage.rotation
    before = rotation.position
    with pytest.raises(LimitError):
        rotation.set(1e6)
    # defence in depth: a direct write beyond the limits leaves the motor where it was
    epics.caput(rotation.user_setpoint.pvname, 1e6, wait=True, timeout=5)
    assert epics.caget(rotation.user_setpoint.pvname, use_monitor=False) == pytest.approx(before)
    assert rotation.position == pytest.approx(before)


def test_the_camera_status_message_follows_the_acquisition(RE, station):
    """``cam1:StatusMessage_RBV``, as an areaDetector driver's: waiting, acquiring, waiting."""
    pv = station.config.station.prefix + station.config.tomography.prefix
    pv += "cam1:StatusMessage_RBV"
    assert read_message(pv) == STATUS_IDLE
    context = Context()
    seen: list[str] = []

    def arrived(sub, response):  # held here: caproto holds a subscription's callback weakly
        seen.append(bytes(response.data).rstrip(b"\0").decode())

    try:
        (status,) = context.get_pvs(pv, timeout=10)
        status.wait_for_connection(timeout=10)
        status.subscribe(data_type="time", data_count=0).add_callback(arrived)
        RE(bp.count([station.detector], num=2))
    finally:
        context.disconnect()
    assert STATUS_ACQUIRING in seen
    assert seen[-1] == STATUS_IDLE
    assert read_message(pv) == STATUS_IDLE


def test_a_swmr_reader_sees_every_frame_of_an_acquisition_while_the_file_is_open(RE, station):
    """The IOC flushes at the end of each acquisition: NumCaptured counts the frames shown,
    and a reader opening the file still being written (SWMR) finds every one, with its angle."""
    detector, stage = station.detector, station.tomo_stage
    seen = {}

    def plan():
        yield from bps.mv(stage.shutter, "Open", stage.sample_x, 0.0, stage.rotation, 10.0)
        yield from bps.stage(detector)
        try:
            for _ in range(3):
                yield from bps.trigger(detector, wait=True)
            path = detector.hdf1.full_file_name.get(use_monitor=False)
            with h5py.File(path, "r", libver="latest", swmr=True) as handle:
                seen["frames"] = handle["/entry/data/data"].shape[0]
                seen["angles"] = handle["/entry/instrument/NDAttributes/RotationAngle_deg"][()]
            seen["captured"] = detector.hdf1.num_captured.get(use_monitor=False)
            seen["capturing"] = detector.hdf1.capture.get(use_monitor=False)
        finally:
            yield from bps.unstage(detector)
            yield from bps.mv(stage.shutter, "Closed")

    RE(plan())
    assert seen["capturing"] == 1  # the file was still open for writing
    assert seen["frames"] == seen["captured"] == 3
    np.testing.assert_allclose(seen["angles"], [10.0, 10.0, 10.0], atol=1e-6)
