"""The fly-scan flyer on ophyd's fake signals, the IOCs played by the test: prepare, kickoff
and complete as statuses of the PVs that confirm each step, stall detection, the stream
documents, and settings restored."""

from __future__ import annotations

import threading
import time

import pytest

from conventions import data_keys
from conventions.pv_states import Direction, TriggerMode
from devices.rotation_flyer import FlyScanError, FlySpec, RotationFlyer

SPEC = FlySpec(start_deg=0.0, step_deg=45.0, num_frames=5, exposure_s=0.05)


def finish_move(motor) -> None:
    """The motor record reaching its target: DMOV 0 then 1."""
    motor.motor_done_move.sim_put(0)
    motor.user_readback.sim_put(motor.user_setpoint.get())
    motor.motor_done_move.sim_put(1)


@pytest.fixture
def flyer(fake_station) -> RotationFlyer:
    stage, det, pc = fake_station.tomo_stage, fake_station.detector, fake_station.position_compare
    stage.rotation.motor_done_move.sim_put(1)
    stage.rotation.velocity.sim_put(30.0)
    det.hdf1.capture.sim_put(1)  # staged: the pass's file is open
    det.cam.array_size.array_size_y.sim_put(24)
    det.cam.array_size.array_size_x.sim_put(64)
    det.hdf1.full_file_name.sim_put("/data/frames/pass.h5")
    pc.arm.sim_set_putter(lambda value: pc.armed.sim_put(1))
    return RotationFlyer(stage, det, pc, stall_timeout_s=0.3)


def prepared(flyer: RotationFlyer) -> None:
    status = flyer.prepare(SPEC)
    assert not status.done  # the run-up move is under way
    finish_move(flyer.stage.rotation)
    status.wait(2)


def test_prepare_runs_up_and_configures_the_camera_and_the_position_compare(flyer):
    prepared(flyer)
    start, end = flyer.travel_deg(SPEC)
    assert start < 0.0 and end > SPEC.stop_deg
    pc, cam, rotation = flyer.position_compare, flyer.detector.cam, flyer.stage.rotation
    assert pc.direction.get() == Direction.POSITIVE and pc.pulse_max.get() == 5
    assert pc.pulse_step_deg.get() == 45.0 and cam.trigger_mode.get() == TriggerMode.EXTERNAL
    assert cam.num_images.get() == 5
    assert rotation.velocity.get() == pytest.approx(flyer.velocity_deg_s(SPEC))


def test_prepare_refuses_an_unstaged_detector(flyer):
    flyer.detector.hdf1.capture.sim_put(0)
    with pytest.raises(FlyScanError, match="stage det"):
        flyer.prepare(SPEC)


def pass_ends(flyer: RotationFlyer, frames: int = SPEC.num_frames) -> None:
    """The IOCs' side of a pass: every pulse makes a frame, the camera stops."""
    cam = flyer.detector.cam
    for count in range(1, frames + 1):
        cam.num_images_counter.sim_put(count)
    flyer.position_compare.num_down.sim_put(frames)
    flyer.detector.hdf1.num_captured.sim_put(frames)
    finish_move(flyer.stage.rotation)
    cam.acquire.sim_put(0)


def test_a_pass_kicks_off_in_order_completes_and_restores_the_settings(flyer):
    prepared(flyer)
    kickoff = flyer.kickoff()
    kickoff.wait(2)
    assert flyer.detector.cam.acquire.get() == 1 and flyer.position_compare.armed.get() == 1
    assert flyer.stage.rotation.user_setpoint.get() == flyer.travel_deg(SPEC)[1]
    complete = flyer.complete()
    assert not complete.done
    pass_ends(flyer)
    complete.wait(3)
    assert flyer.stage.rotation.velocity.get() == 30.0  # as before the pass


def test_frames_missing_at_the_end_fail_the_pass_saying_how_many(flyer):
    prepared(flyer)
    flyer.kickoff().wait(2)
    complete = flyer.complete()
    pass_ends(flyer, frames=4)
    with pytest.raises(FlyScanError, match="5 frames asked, 4 pulses sent"):
        complete.wait(3)


def test_a_pass_whose_frames_stop_coming_fails_once_the_rotation_has_stopped(flyer):
    prepared(flyer)
    flyer.kickoff().wait(2)
    complete = flyer.complete()
    flyer.detector.cam.num_images_counter.sim_put(2)
    finish_move(flyer.stage.rotation)  # the camera keeps waiting for pulses
    with pytest.raises(FlyScanError, match="stalled at frame 2 of 5"):
        complete.wait(3)


def test_frames_arriving_late_keep_the_pass_alive(flyer):
    prepared(flyer)
    flyer.kickoff().wait(2)
    complete = flyer.complete()
    finish_move(flyer.stage.rotation)

    def trickle() -> None:  # a frame every 0.2 s, inside the 0.3 s stall timeout
        for count in range(1, 6):
            time.sleep(0.2)
            flyer.detector.cam.num_images_counter.sim_put(count)
        pass_ends(flyer)

    threading.Thread(target=trickle).start()
    complete.wait(5)
    assert complete.success


def test_the_stream_holds_frames_and_angles_by_reference(flyer):
    prepared(flyer)
    described = flyer.describe_collect()
    assert set(described) == {data_keys.FRAME, data_keys.ANGLE}
    assert described[data_keys.FRAME]["shape"] == [24, 64]
    flyer.detector.hdf1.num_captured.sim_put(3)
    documents = list(flyer.collect_asset_docs())
    names = [name for name, _ in documents]
    assert names == ["stream_resource", "stream_resource", "stream_datum", "stream_datum"]
    assert documents[0][1]["uri"] == "file://localhost/data/frames/pass.h5"
    assert documents[2][1]["indices"] == {"start": 0, "stop": 3}
    flyer.detector.hdf1.num_captured.sim_put(5)
    assert [doc["indices"] for _, doc in flyer.collect_asset_docs()] == [
        {"start": 3, "stop": 5}
    ] * 2


def test_the_run_up_is_the_distance_the_rotations_acceleration_takes_and_a_step(flyer):
    flyer.stage.rotation.acceleration.sim_put(0.2)
    velocity = flyer.velocity_deg_s(SPEC)
    run_up = velocity * 0.2 / 2 + SPEC.step_deg
    start, end = flyer.travel_deg(SPEC)
    assert start == pytest.approx(SPEC.start_deg - run_up)
    assert end == pytest.approx(SPEC.stop_deg + run_up)
    backwards = FlySpec(start_deg=180.0, step_deg=-45.0, num_frames=5, exposure_s=0.05)
    assert flyer.travel_deg(backwards) == pytest.approx((180.0 + run_up, 0.0 - run_up))
    # A slower rotation stage: a longer run-up; a given run_up_s overrides the record's ACCL.
    flyer.stage.rotation.acceleration.sim_put(1.0)
    assert flyer.travel_deg(SPEC)[0] < start
    flyer.run_up_s = 0.2
    assert flyer.travel_deg(SPEC) == pytest.approx((start, end))
