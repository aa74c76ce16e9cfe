"""The tomography stage and detector on ophyd's fake signals: what a scan records, and an
HDF5 plugin that has seen no frame primed before it is staged."""

from __future__ import annotations

import pytest
from ophyd.areadetector import SingleTrigger

from conventions import data_keys
from conventions.pv_states import TriggerMode
from devices.tomography import TomographyDetector


@pytest.fixture
def detector(fake_station) -> TomographyDetector:
    det = fake_station.detector

    # As the IOC: one frame through an enabled plugin tells it the frame size.
    def acquire(value: int) -> None:
        if value and det.hdf1.enable.get() == "Enable":
            det.hdf1.array_size.width.sim_put(64)
            det.hdf1.array_size.height.sim_put(24)
        det.cam.acquire.sim_put(value)

    det.cam.acquire.sim_set_putter(acquire)
    det.hdf1.enable.sim_put("Disable")
    det.cam.image_mode.sim_put("Multiple")
    det.cam.trigger_mode.sim_put(TriggerMode.EXTERNAL)
    return det


def test_a_frame_is_read_by_reference_and_the_cam_settings_are_configuration(detector):
    assert data_keys.FRAME in [f"{detector.name}_image"]
    assert detector.read_attrs == ["hdf1"]
    configuration = set(detector.cam.configuration_attrs)
    assert configuration == {
        "acquire_time",
        "acquire_period",
        "num_images",
        "image_mode",
        "trigger_mode",
    }
    assert "pixel_size_um" in detector.configuration_attrs


def test_an_unprimed_plugin_is_primed_and_the_camera_set_back(detector):
    detector.prime_hdf5()
    assert list(detector.hdf1.array_size.get()) == [0, 24, 64]  # depth, height, width
    assert detector.cam.image_mode.get() == "Multiple"
    assert detector.cam.trigger_mode.get() == TriggerMode.EXTERNAL
    assert detector.hdf1.enable.get() == "Disable"


@pytest.mark.parametrize(("width", "primes"), [(0, 1), (64, 0)])
def test_staging_primes_a_plugin_that_has_seen_no_frame(detector, monkeypatch, width, primes):
    """A freshly started areaDetector IOC's HDF5 plugin refuses to capture until primed."""
    monkeypatch.setattr(SingleTrigger, "stage", lambda self: [self])  # ophyd's own staging
    primed = []
    monkeypatch.setattr(detector, "prime_hdf5", lambda: primed.append(True))
    detector.hdf1.array_size.width.sim_put(width)
    detector.stage()
    assert len(primed) == primes


def test_the_stage_reads_rotation_and_translation_by_their_keys(fake_station):
    stage = fake_station.tomo_stage
    assert data_keys.ANGLE in stage.describe()
    assert stage.hints["fields"][0] == data_keys.ANGLE
