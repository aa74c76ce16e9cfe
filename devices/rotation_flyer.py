"""Continuous-rotation (fly) CT: a position-compare unit triggers the detector as it rotates.

The shape of fly tomography at real beamlines (docs/pv_conventions.md): the rotation stage runs up
to speed before the first angle, crosses the projection angles at constant velocity while the
position compare pulses the camera in external-trigger mode, and runs out after the last. The
frames, and the angle latched at each frame's pulse, stay in the detector's HDF5 file; the
flyer describes them as ``STREAM:`` data and emits StreamResource/StreamDatum documents (as an
ophyd-async detector does), so a whole pass costs Tiled a few requests, not one per frame.

Use with bluesky's fly verbs (see `plans.ct`)::

    yield from bps.stage(detector)   # first: the camera then writes one file for the pass
    yield from bps.prepare(flyer, FlySpec(0.0, 0.5, 361, 0.05), wait=True)
    yield from bps.declare_stream(flyer, name="projection", collect=True)
    yield from bps.kickoff(flyer, wait=True)
    yield from bps.complete(flyer, wait=True)
    yield from bps.collect(flyer, name="projection")
    yield from bps.unstage(detector)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import event_model
import numpy as np
from event_model.documents import StreamDatum, StreamResource
from event_model.documents.stream_datum import StreamRange
from ophyd.status import DeviceStatus, StatusBase, SubscriptionStatus

from conventions.pv_states import Direction, TriggerMode

from .position_compare import PositionCompare
from .tomography import TomographyDetector, TomographyStage

#: Timeout of each configuration put and of the run-up move, s.
SETUP_TIMEOUT_S = 60.0
#: Where the HDF5 plugin writes frames, and where its attributes file makes it record each
#: frame's rotation angle (deg).
FRAMES_DATASET = "/entry/data/data"
ANGLE_DATASET = "/entry/instrument/NDAttributes/RotationAngle_deg"
#: Chunk length of the angle dataset, as the IOC writes it.
ANGLE_CHUNK = 1024


class FlyScanError(RuntimeError):
    """A fly scan that could not start, stalled, or lost frames."""


@dataclass(frozen=True)
class FlySpec:
    """One continuous-rotation pass.

    Parameters
    ----------
    start_deg
        Angle of the first frame, degrees.
    step_deg
        Angle between frames, degrees (negative rotates backwards).
    num_frames
        Frames (projections), one per pulse.
    exposure_s
        Exposure per frame, s. The rotation speed is ``|step_deg|`` per
        ``exposure_s + detector readout``.
    """

    start_deg: float
    step_deg: float
    num_frames: int
    exposure_s: float

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.step_deg == 0 or not self.exposure_s > 0:
            raise ValueError(f"not a fly scan: {self}")

    @property
    def stop_deg(self) -> float:
        """Angle of the last frame, degrees."""
        return self.start_deg + self.step_deg * (self.num_frames - 1)


def _in_sequence(owner: Any, steps: Sequence[Callable[[], StatusBase | None]]) -> DeviceStatus:
    """Run ``steps`` one after the other, each when the status the one before returned has
    finished; the returned status finishes after the last, or fails with the first error."""
    result = DeviceStatus(owner)

    def run(index: int, previous: StatusBase | None = None) -> None:
        try:
            if previous is not None:
                error = previous.exception()
                if error is not None:
                    raise error
            if index == len(steps):
                result.set_finished()
                return
            status = steps[index]()
        except Exception as error:  # handed to the RunEngine through the status
            result.set_exception(error)
            return
        if status is None:
            run(index + 1)
        else:
            status.add_callback(lambda done: run(index + 1, done))

    run(0)
    return result


class RotationFlyer:
    """Fly CT over a `TomographyStage`'s rotation, a `PositionCompare` and a detector.

    Parameters
    ----------
    stage, detector, position_compare
        The instruments (connected).
    name
        Name of the flyer (and prefix of nothing: the events use the detector's and the
        rotation's own data keys).
    stream
        Name of the stream the frames go to (for ``bps.declare_stream``).
    readout_s
        Detector dead time between frames, s (sets the rotation speed).
    run_up_s
        Time the rotation takes to reach its speed (and to stop), s of experiment time; None
        (the default): the motor record's ``ACCL``, read when the pass is planned. The
        run-up before the first angle is the distance accelerating takes, ½ × speed ×
        ``run_up_s``, and one step more; the run-out after the last angle the same.
    stall_timeout_s
        Wall seconds without a new frame, after the rotation stopped, before `complete`
        fails.
    """

    def __init__(
        self,
        stage: TomographyStage,
        detector: TomographyDetector,
        position_compare: PositionCompare,
        *,
        name: str = "ct_flyer",
        stream: str = "projection",
        readout_s: float = 0.001,
        run_up_s: float | None = None,
        stall_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.parent = None
        self.stage, self.detector, self.position_compare = stage, detector, position_compare
        self.stream = stream
        self.readout_s = readout_s
        self.run_up_s = run_up_s
        self.stall_timeout_s = stall_timeout_s
        self._spec: FlySpec | None = None
        self._restore: dict = {}
        self._motion: StatusBase | None = None
        self._resources: list[event_model.ComposeStreamResourceBundle] | None = None
        self._collected = 0
        self._end_deg = 0.0
        self._completion: DeviceStatus | None = None

    @property
    def image_key(self) -> str:
        """Data key of the frames: the detector's own (as `SingleTrigger` names it)."""
        return f"{self.detector.name}_image"

    def velocity_deg_s(self, spec: FlySpec) -> float:
        """Rotation speed of the pass: one step per exposure + readout, deg/s."""
        return abs(spec.step_deg) / (spec.exposure_s + self.readout_s)

    def acceleration_s(self) -> float:
        """Time the rotation takes to reach its speed, s: ``run_up_s``, or the motor
        record's ``ACCL`` (a Channel Access get)."""
        if self.run_up_s is not None:
            return self.run_up_s
        return float(self.stage.rotation.acceleration.get())

    def travel_deg(self, spec: FlySpec) -> tuple[float, float]:
        """Where the rotation starts its run-up and ends its run-out, degrees: accelerating
        (decelerating) to speed takes ½ × speed × `acceleration_s`, and one step more has
        the first frame's pulse (the last frame's exposure) at full speed."""
        velocity = self.velocity_deg_s(spec)
        run_up = math.copysign(
            velocity * self.acceleration_s() / 2 + abs(spec.step_deg), spec.step_deg
        )
        return spec.start_deg - run_up, spec.stop_deg + run_up

    # -- bluesky fly protocol --------------------------------------------------------------
    def prepare(self, spec: FlySpec) -> StatusBase:
        """Send the rotation back to its run-up position and, while it travels, configure
        the position compare and the camera. Raises `ophyd.utils.LimitError` at once if the
        pass exceeds the limits.

        The detector must be staged first (its HDF5 file open for the pass).

        Returns
        -------
        StatusBase
            The run-up move's: finished once the rotation is there.
        """
        if not self.detector.hdf1.capture.get():
            raise FlyScanError(f"{self.name}: stage {self.detector.name} before prepare")
        start, end = self.travel_deg(spec)
        velocity = self.velocity_deg_s(spec)
        rotation, cam, pc = self.stage.rotation, self.detector.cam, self.position_compare
        rotation.check_value(start)
        rotation.check_value(end)
        self._spec, self._resources, self._collected = spec, None, 0
        for signal in (
            cam.num_images_counter,
            cam.trigger_mode,
            cam.acquire_period,
            *(getattr(pc, name) for name in pc.component_names),
        ):
            signal.wait_for_connection(SETUP_TIMEOUT_S)  # ophyd connects these lazily
        self._restore = {
            rotation.velocity: rotation.velocity.get(),
            cam.trigger_mode: cam.trigger_mode.get(),
            cam.num_images: cam.num_images.get(),
        }
        run_up = rotation.set(start)  # at its own speed: the scan's is set below, for after
        for signal, value in (
            (pc.direction, Direction.POSITIVE if spec.step_deg > 0 else Direction.NEGATIVE),
            (pc.pulse_start_deg, spec.start_deg),
            (pc.pulse_step_deg, abs(spec.step_deg)),
            (pc.pulse_max, spec.num_frames),
            (cam.trigger_mode, TriggerMode.EXTERNAL),
            (cam.num_images, spec.num_frames),
            (cam.acquire_time, spec.exposure_s),
            (cam.acquire_period, spec.exposure_s + self.readout_s),
            (rotation.velocity, velocity),
        ):
            signal.set(value).wait(SETUP_TIMEOUT_S)
        self._end_deg = end
        return run_up

    def kickoff(self) -> DeviceStatus:
        """Start the camera waiting for pulses, arm the position compare, start rotating;
        finished once the rotation has set off (each step waits on the PV that confirms the
        one before)."""
        if self._spec is None:
            raise FlyScanError(f"{self.name}: prepare() it with a FlySpec before kickoff")
        cam, pc = self.detector.cam, self.position_compare

        def acquire() -> StatusBase:
            cam.acquire.put(1)  # a busy put, complete only when every frame is taken
            return _becomes(cam.acquire, 1, f"{self.detector.name} did not start acquiring")

        def arm() -> StatusBase:
            pc.arm.put(1)
            return _becomes(pc.armed, 1, f"{pc.name} did not arm")

        def rotate() -> None:
            self._motion = self.stage.rotation.set(self._end_deg)

        return _in_sequence(self, (acquire, arm, rotate))

    def complete(self) -> DeviceStatus:
        """Finished when the camera has taken every frame and the rotation has stopped, with
        the settings restored and every frame accounted for; fails if frames stop arriving
        for ``stall_timeout_s`` after the rotation stopped."""
        if self._motion is None or self._spec is None:
            raise FlyScanError(f"{self.name}: kickoff() before complete")
        cam, spec, motion = self.detector.cam, self._spec, self._motion
        result = DeviceStatus(self)
        self._completion = result
        watchdog: list[threading.Timer] = []
        lock = threading.Lock()

        def stalled() -> None:
            if not result.done:
                result.set_exception(
                    FlyScanError(
                        f"{self.name}: stalled at frame {cam.num_images_counter.get()} of "
                        f"{spec.num_frames} ({self.position_compare.num_down.get()} pulses sent)"
                    )
                )

        def restart_watchdog(**kwargs: Any) -> None:
            with lock:
                for timer in watchdog:
                    timer.cancel()
                watchdog.clear()
                if motion.done and not result.done:
                    timer = threading.Timer(self.stall_timeout_s, stalled)
                    timer.daemon = True
                    timer.start()
                    watchdog.append(timer)

        counting = cam.num_images_counter.subscribe(restart_watchdog, run=False)
        motion.add_callback(lambda done: restart_watchdog())
        camera_idle = _becomes(
            cam.acquire, 0, f"{self.detector.name} kept acquiring", timeout_s=None
        )

        def finish(done: StatusBase) -> None:
            cam.num_images_counter.unsubscribe(counting)
            restart_watchdog()  # stops it: the result is settled below
            if result.done:
                return
            # Blocking puts and gets: not on the callback thread that reported the end.
            threading.Thread(
                target=self._finish_pass,
                args=(done, result),
                name=f"{self.name}-complete",
                daemon=True,
            ).start()

        (camera_idle & motion).add_callback(finish)
        return result

    def _finish_pass(self, done: StatusBase, result: DeviceStatus) -> None:
        if result.done:  # abandoned: to be flown again, its frames nobody's
            return
        try:
            error = done.exception()
            if error is not None:
                raise error
            self._restore_settings()
            self._check_frames()
        except Exception as error:  # handed to the RunEngine through the status
            if not result.done:
                result.set_exception(error)
            return
        if not result.done:
            result.set_finished()

    def describe_collect(self) -> dict[str, dict]:
        """Data keys of the frame stream (declare it with ``bps.declare_stream``): the frames
        and their latched angles, both in the detector's HDF5 file."""
        cam, file_name = self.detector.cam, self.detector.hdf1.full_file_name
        frame_shape = [cam.array_size.array_size_y.get(), cam.array_size.array_size_x.get()]
        source = file_name.describe()[file_name.name]["source"]  # the file's PV
        return {
            self.image_key: {
                "source": source,
                "dtype": "array",
                "shape": frame_shape,
                "dtype_numpy": np.dtype(np.uint16).str,
                "external": "STREAM:",
            },
            self.stage.rotation.name: {
                "source": source,
                "dtype": "number",
                "shape": [],
                "units": "deg",
                "dtype_numpy": np.dtype(np.float64).str,
                "external": "STREAM:",
            },
        }

    def get_index(self) -> int:
        """Frames written so far in this pass."""
        return self.detector.hdf1.num_captured.get(use_monitor=False)

    def collect_asset_docs(
        self, index: int | None = None
    ) -> Iterator[tuple[str, StreamResource | StreamDatum]]:
        """A StreamResource per data key (once per pass), then StreamDatums for the frames
        written since the last call, up to ``index``."""
        index = self.get_index() if index is None else index
        if self._resources is None:
            path = Path(self.detector.hdf1.full_file_name.get(use_monitor=False))
            uri = "file://localhost" + path.absolute().as_posix()
            frame_shape = self.describe_collect()[self.image_key]["shape"]
            self._resources = [
                event_model.compose_stream_resource(
                    mimetype="application/x-hdf5",
                    uri=uri,
                    data_key=key,
                    parameters={"dataset": dataset, "chunk_shape": chunks, "swmr": True},
                )
                for key, dataset, chunks in (
                    (self.image_key, FRAMES_DATASET, [1, *frame_shape]),
                    (self.stage.rotation.name, ANGLE_DATASET, [ANGLE_CHUNK]),
                )
            ]
            for bundle in self._resources:
                yield "stream_resource", bundle.stream_resource_doc
        if index > self._collected:
            for bundle in self._resources:
                yield (
                    "stream_datum",
                    bundle.compose_stream_datum(
                        indices=StreamRange(start=self._collected, stop=index)
                    ),
                )
            self._collected = index

    def read_configuration(self) -> dict:
        return {**self.detector.read_configuration(), **self.position_compare.read_configuration()}

    def describe_configuration(self) -> dict:
        return {
            **self.detector.describe_configuration(),
            **self.position_compare.describe_configuration(),
        }

    def stop(self, *, success: bool = False) -> None:
        """Stop the camera, the position compare and the rotation; restore the settings."""
        self.detector.cam.acquire.put(0)
        self.position_compare.disarm.put(1)
        self.stage.rotation.stop(success=success)
        self._restore_settings()

    def abandon(self) -> None:
        """Stop the pass under way so that it can be flown again (a suspension replays it
        from `prepare`): its `complete` status finishes now, its frames unchecked, instead of
        failing the replayed pass that waits on the same group."""
        if self._completion is not None and not self._completion.done:
            self._completion.set_finished()
        self.stop()

    # -- helpers ---------------------------------------------------------------------------
    def _check_frames(self) -> None:
        """Raise `FlyScanError` unless every pulse made a frame and every frame was written."""
        pulses = self.position_compare.num_down.get(use_monitor=False)
        frames = self.detector.cam.num_images_counter.get(use_monitor=False)
        written = self.get_index()
        asked = self._spec.num_frames if self._spec is not None else 0
        if not pulses == frames == written == asked:
            raise FlyScanError(
                f"{self.name}: {asked} frames asked, {pulses} pulses sent, "
                f"{frames} frames taken, {written} written to "
                f"{self.detector.hdf1.full_file_name.get()}"
            )

    def _restore_settings(self) -> None:
        restore, self._restore = self._restore, {}
        for signal, value in restore.items():
            signal.set(value).wait(SETUP_TIMEOUT_S)


def _becomes(
    signal: Any, wanted: Any, failure: str, timeout_s: float | None = SETUP_TIMEOUT_S
) -> DeviceStatus:
    """A status that finishes once ``signal`` reads ``wanted`` (on its monitor); after
    ``timeout_s`` it fails with `FlyScanError` saying ``failure``."""
    result = DeviceStatus(signal)

    def reached(*args: Any, value: Any, **kwargs: Any) -> bool:
        return bool(value == wanted)

    def settle(watched: StatusBase) -> None:
        if watched.exception() is None:
            result.set_finished()
        else:
            result.set_exception(FlyScanError(f"{failure} within {timeout_s} s"))

    SubscriptionStatus(signal, reached, timeout=timeout_s, run=True).add_callback(settle)
    return result
