"""X-ray CT plans: dark fields, flat fields and projections over an angular range.

Frames stay in the detector's HDF5 files; events reference them through the Resource/Datum
documents of ophyd's HDF5 file-store plugin. The detector is staged once per stream, so dark,
flat and projection frames each have a file (and a Resource) of their own.

Projections are a fly scan when a position-compare unit is given (continuous rotation, the
unit triggering the camera: `devices.rotation_flyer`), else a step scan (move, settle, expose
at each angle). Darks and flats are always single internally triggered frames.

The frames overlap the motions (`acquire_ct`): the darks are taken (shutter closed) while the
sample moves out of the beam and the rotation goes to its first position; the flats once the
sample is fully out, the rotation possibly still on its way; the sample moves back in while
the projections' file is opened and the fly pass prepared. Each CT records its wall time
against its exposure floor in stream ``ct_timing`` (`plans.ct_timing`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator
from ophyd import Device

from conventions import data_keys, plan_arguments
from conventions.pv_states import Shutter
from devices.beam_monitor import BeamMonitor
from devices.position_compare import PositionCompare
from devices.rotation_flyer import FlySpec, RotationFlyer
from devices.station_clock import StationClock
from devices.tomography import TomographyDetector, TomographyStage

from .beam_wait import beam_gate, describe_beam_suspender, waiting_for_beam
from .ct_timing import PhaseTimer, record_timing
from .experiment_time import clocked
from .metadata import checkpointed_run, plan_metadata

#: Groups of the sample translation's and the rotation's moves that frames overlap.
SAMPLE_MOVE, ROTATION_MOVE = "ct_sample_x", "ct_rotation"
#: How far from its target the sample translation may read and count as arrived, mm.
SAMPLE_ARRIVED_MM = 1e-3


@dataclass(frozen=True)
class CTSettings:
    """One CT scan.

    Parameters
    ----------
    num_projections
        Projections, evenly spaced from ``start_deg`` to ``stop_deg`` inclusive.
    start_deg, stop_deg
        Angular range, degrees.
    exposure_s
        Exposure per frame, s.
    num_darks, num_flats
        Dark frames (shutter closed) and flat frames (sample out of the beam) before the
        projections.
    """

    num_projections: int = 361
    start_deg: float = 0.0
    stop_deg: float = 180.0
    exposure_s: float = 0.05
    num_darks: int = 10
    num_flats: int = 10

    def __post_init__(self) -> None:
        plan_arguments.ct_settings(
            self.num_projections,
            self.start_deg,
            self.stop_deg,
            self.exposure_s,
            self.num_darks,
            self.num_flats,
        )

    @property
    def num_frames(self) -> int:
        """Every frame of the scan: darks, flats and projections."""
        return self.num_darks + self.num_flats + self.num_projections

    def angles_deg(self) -> np.ndarray:
        """Projection angles, degrees."""
        return np.linspace(self.start_deg, self.stop_deg, self.num_projections)

    def fly_spec(self) -> FlySpec:
        """The projections as one continuous-rotation pass."""
        step = (self.stop_deg - self.start_deg) / (self.num_projections - 1)
        return FlySpec(self.start_deg, step, self.num_projections, self.exposure_s)

    def as_dict(self) -> dict:
        """The settings by name, with units in the names."""
        return {"name": "CT", **asdict(self)}


def sample_positions(stage: TomographyStage) -> MsgGenerator[tuple[float, float]]:
    """Where the sample is in and out of the beam, mm (reads)."""
    return (
        float((yield from bps.rd(stage.sample_in_mm))),
        float((yield from bps.rd(stage.sample_out_mm))),
    )


def sample_arrived(stage: TomographyStage, position_mm: float) -> MsgGenerator[None]:
    """Wait for the sample translation's move (group `SAMPLE_MOVE`), and move it again if it
    reads short of ``position_mm``: a pause stops every motor the RunEngine moved, and the
    resumed plan does not repeat a move started before its last checkpoint."""
    yield from bps.wait(group=SAMPLE_MOVE)
    where_mm = yield from bps.rd(stage.sample_x.user_readback, default_value=None)
    if where_mm is None or abs(where_mm - position_mm) > SAMPLE_ARRIVED_MM:
        yield from bps.mv(stage.sample_x, position_mm)


def stage_speeds(stage: TomographyStage) -> MsgGenerator[None]:
    """Set the sample translation's and the rotation's speeds (``.VELO``) to the stage's
    ``sample_speed_mm_s`` and ``rotation_speed_deg_s`` (a fly pass sets its own and restores
    this one)."""
    sample_speed = yield from bps.rd(stage.sample_speed_mm_s)
    rotation_speed = yield from bps.rd(stage.rotation_speed_deg_s)
    yield from bps.mv(
        stage.sample_x.velocity, sample_speed, stage.rotation.velocity, rotation_speed
    )


def check_ct(
    stage: TomographyStage, settings: CTSettings, flyer: RotationFlyer | None = None
) -> MsgGenerator[None]:
    """Raise before anything moves if the stage cannot reach the scan's positions (it only
    reads where the sample goes).

    Raises
    ------
    ophyd.utils.LimitError
        For an angle (with a fly scan's run-up and run-out) or sample-out position beyond the
        motors' limits.
    """
    angles = [settings.start_deg, settings.stop_deg]
    if flyer is not None:
        angles += flyer.travel_deg(settings.fly_spec())
    for angle in angles:
        stage.rotation.check_value(angle)
    for position in (yield from sample_positions(stage)):
        stage.sample_x.check_value(position)


def _frames(
    detector: TomographyDetector,
    readables: Sequence[Device],
    count: int,
    stream: str,
    beam: BeamMonitor | None = None,
    clock: StationClock | None = None,
) -> MsgGenerator[None]:
    """``count`` single-frame events in ``stream``, the detector staged around them (each
    stream has a file, and a Resource, of its own); with a ``beam``, each frame waits for it
    (`plans.beam_wait.beam_gate`, its events with the ``clock``). A checkpoint before each
    frame, and one once the file is closed: a pause goes back no further."""
    if count == 0:
        return

    @bpp.stage_decorator([detector])
    def frames() -> MsgGenerator[None]:
        for _ in range(count):
            yield from beam_gate(beam, clock)
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([detector, *readables], name=stream)

    yield from frames()
    yield from bps.checkpoint()


def ct_flyer(
    stage: TomographyStage,
    detector: TomographyDetector,
    position_compare: PositionCompare | None,
    stream: str,
) -> RotationFlyer | None:
    """The fly-scan flyer of a station with a position-compare unit (None without one)."""
    if position_compare is None:
        return None
    return RotationFlyer(stage, detector, position_compare, stream=stream)


class FlyPass:
    """One fly pass of the projections, which a suspension (the beam lost) flies again.

    A pass cannot go on from where it stopped: the rotation is at speed and the camera
    counts pulses. The RunEngine, on resuming, replays every message since the last
    checkpoint but never a ``stage``: staging the detector (opening the pass's HDF5 file)
    clears the checkpoint, so a suspended pass is replayed from its ``prepare``, from the
    run-up. `interrupted` (the beam suspender's ``pre_plan``) makes that replay a clean pass:
    it abandons the pass (`RotationFlyer.abandon`: stopped, its ``complete`` finished
    unchecked, as the replay waits on the same group) and has the HDF5 plugin close the
    pass's file and open the next one (``Capture`` 0 then 1; the file number increments), so
    the replayed pass's frames, and the StreamResource its collect writes, are a file of
    their own. The frames of the stopped pass stay in theirs, referenced by no document. The
    replayed ``declare_stream`` makes a second descriptor of the stream, with the same data
    keys, which Tiled takes as the same stream.
    """

    def __init__(
        self,
        flyer: RotationFlyer,
        settings: CTSettings,
        ready: Callable[[], MsgGenerator[None]] | None = None,
    ) -> None:
        self.flyer, self.settings = flyer, settings
        #: What the pass waits for once prepared, before it starts (the sample in the beam).
        self.ready = ready
        #: The pass's file is open (between its stage and its unstage).
        self.under_way = False

    def plan(self) -> MsgGenerator[None]:
        """The projections as one continuous-rotation pass into ``flyer.stream``; on any
        failure the camera, the position compare and the rotation are stopped."""
        flyer, detector = self.flyer, self.flyer.detector

        def fly() -> MsgGenerator[None]:
            yield from bps.stage(detector)  # before prepare: the pass's HDF5 file is open
            # From here a suspension replays the pass (the stage cleared the checkpoint).
            self.under_way = True
            yield from bps.prepare(flyer, self.settings.fly_spec(), wait=True)
            if self.ready is not None:
                yield from self.ready()
            yield from bps.declare_stream(flyer, name=flyer.stream, collect=True)
            yield from bps.kickoff(flyer, wait=True)
            yield from bps.complete(flyer, wait=True)
            yield from bps.collect(flyer, name=flyer.stream)

        def close() -> MsgGenerator[None]:
            if self.under_way:
                self.under_way = False
                yield from bps.unstage(detector)

        def stop_flyer(error: Exception) -> MsgGenerator[None]:
            yield from bps.stop(flyer)

        yield from bpp.contingency_wrapper(fly(), except_plan=stop_flyer, final_plan=close)
        yield from bps.checkpoint()

    def interrupted(self) -> MsgGenerator[None] | None:
        """What a suspension does first: stop the pass under way and start the next file
        (None when no pass is under way). The pass stays under way: the RunEngine replays it
        into that file when the suspension ends."""
        return self._stop() if self.under_way else None

    def _stop(self) -> MsgGenerator[None]:
        self.flyer.abandon()
        detector = self.flyer.detector
        # Until the camera has ended the stopped acquisition: one that is still winding down
        # would refuse the replayed pass's start, or take its frames.
        yield from bps.mv(detector.cam.acquire, 0)
        yield from bps.mv(detector.hdf1.capture, 0)
        yield from bps.mv(detector.hdf1.capture, 1)


def step_projections(
    stage: TomographyStage,
    detector: TomographyDetector,
    settings: CTSettings,
    detectors: Sequence[Device],
    stream: str,
    beam: BeamMonitor | None = None,
    clock: StationClock | None = None,
) -> MsgGenerator[None]:
    """The projections as a step scan: move, then one frame per angle, with ``detectors``;
    with a ``beam``, each frame waits for it (`plans.beam_wait.beam_gate`, its events with
    the ``clock``)."""

    @bpp.stage_decorator([detector])
    def steps() -> MsgGenerator[None]:
        for angle in settings.angles_deg():
            yield from bps.checkpoint()  # a pause takes this projection again
            yield from bps.mv(stage.rotation, float(angle))
            yield from beam_gate(beam, clock)
            yield from bps.trigger_and_read([detector, stage.rotation, *detectors], name=stream)

    yield from steps()
    yield from bps.checkpoint()


def acquire_ct(
    stage: TomographyStage,
    detector: TomographyDetector,
    settings: CTSettings,
    detectors: Sequence[Device] = (),
    *,
    flyer: RotationFlyer | None = None,
    beam: BeamMonitor | None = None,
    projection_stream: str = data_keys.PRIMARY,
    clock: StationClock | None = None,
) -> MsgGenerator[None]:
    """Darks, flats and projections in streams ``dark``, ``flat`` and ``projection_stream``
    (no run), the frames overlapping the motions; then the CT's timing in stream
    ``ct_timing`` (`plans.ct_timing.record_timing`: each phase's wall seconds and the whole
    ÷ every frame's exposure).

    In order, at the stage's ``sample_speed_mm_s`` and ``rotation_speed_deg_s``:

    1. the shutter closes; the sample sets off out of the beam and the rotation to its first
       position (a fly pass's run-up start, or ``start_deg``); the darks are taken meanwhile
       (closed shutter: where the sample is does not matter);
    2. once the sample is fully out (its readback at ``sample_out_mm``) the shutter opens
       and the flats are taken: a flat is never taken with the sample moving, nor partly in
       the beam; the rotation may still be on its way (the sample is out);
    3. the sample sets off back in; meanwhile the ``detectors`` are read (a fly scan), the
       rotation arrives, the projections' file opens and the fly pass is prepared; the first
       projection waits for the sample to be in (its readback at ``sample_in_mm``);
    4. the projections, the shutter closes. The rotation stays where the projections ended
       (a fly pass: beyond ``stop_deg`` by its run-out); the next CT's darks and flats
       overlap its return.

    Flats are taken before the projections only (as darks), so that an analysis can
    normalise the projections as they arrive.

    With a ``flyer`` (see `ct_flyer`) the projections are a fly scan into the flyer's stream,
    and ``detectors`` are read before and after it in stream ``ct_conditions``; without, a
    step scan reading ``detectors`` with every projection. With a ``beam`` monitor, the CT
    takes no flat or projection while the beam is down (`plans.beam_wait`: each flat and step
    projection waits, a fly pass is suspended and flown again), and the ring current is read
    with every dark, flat and step projection (and in ``ct_conditions``); the rotation and the
    sample translation are read with every dark and flat. The ``clock`` is
    read in every event (of a fly scan, in ``ct_conditions``: the pass's frames are stream
    data of the detector's file). Leaves the shutter closed and the sample in the beam.
    """
    timer = PhaseTimer()
    beam_readers = [beam] if beam is not None else []
    conditions = clocked([*detectors, *beam_readers], clock)
    sample_in_mm, sample_out_mm = yield from sample_positions(stage)
    first_deg = settings.start_deg
    if flyer is not None:
        first_deg = flyer.travel_deg(settings.fly_spec())[0]

    def sample_in() -> MsgGenerator[None]:
        yield from sample_arrived(stage, sample_in_mm)
        timer.end("projection_setup")

    fly_pass = FlyPass(flyer, settings, ready=sample_in) if flyer is not None else None

    cam = detector.cam
    yield from stage_speeds(stage)
    yield from bps.mv(cam.acquire_time, settings.exposure_s, cam.num_images, 1)
    yield from bps.mv(stage.shutter, Shutter.CLOSED)
    yield from bps.abs_set(stage.sample_x, sample_out_mm, group=SAMPLE_MOVE)
    yield from bps.abs_set(stage.rotation, first_deg, group=ROTATION_MOVE)
    # Where the sample was is in every dark and flat: a flat's proves it was out.
    frame_readers = clocked([stage.rotation, stage.sample_x, *beam_readers], clock)
    yield from _frames(detector, frame_readers, settings.num_darks, data_keys.DARK)
    timer.end("darks")
    yield from sample_arrived(stage, sample_out_mm)
    yield from bps.mv(stage.shutter, Shutter.OPEN)
    timer.end("sample_out")
    yield from _frames(detector, frame_readers, settings.num_flats, data_keys.FLAT, beam, clock)
    timer.end("flats")
    yield from bps.abs_set(stage.sample_x, sample_in_mm, group=SAMPLE_MOVE)
    if fly_pass is None:
        yield from bps.wait(group=ROTATION_MOVE)
        yield from sample_in()
        yield from step_projections(
            stage, detector, settings, conditions, projection_stream, beam, clock
        )
    else:
        if conditions:
            yield from bps.trigger_and_read(conditions, name=data_keys.CT_CONDITIONS)
        yield from bps.wait(group=ROTATION_MOVE)  # before the pass's own move to its start
        yield from beam_gate(beam, clock)
        yield from waiting_for_beam(fly_pass.plan(), beam, fly_pass.interrupted)
        if conditions:
            yield from bps.trigger_and_read(conditions, name=data_keys.CT_CONDITIONS)
    timer.end("projections")
    yield from bps.mv(stage.shutter, Shutter.CLOSED)
    timer.end("finish")
    yield from record_timing(timer, settings.num_frames * settings.exposure_s, clock)


def ct_scan(
    stage: TomographyStage,
    detector: TomographyDetector,
    *,
    num_projections: int = 361,
    start_deg: float = 0.0,
    stop_deg: float = 180.0,
    exposure_s: float = 0.05,
    num_darks: int = 10,
    num_flats: int = 10,
    position_compare: PositionCompare | None = None,
    beam: BeamMonitor | None = None,
    detectors: Sequence[Device] = (),
    clock: StationClock | None = None,
    md: dict | None = None,
) -> MsgGenerator[str]:
    """A CT scan: darks, flats, then projections over an angular range (stream ``primary``).

    Parameters
    ----------
    stage
        Rotation, sample translation and shutter.
    detector
        The area detector (frames to HDF5; events hold references).
    num_projections
        Projections, evenly spaced over ``start_deg``–``stop_deg`` inclusive.
    start_deg, stop_deg
        Angular range, degrees.
    exposure_s
        Exposure per frame, s.
    num_darks, num_flats
        Dark frames (shutter closed, stream ``dark``) and flat frames (sample moved to
        ``stage.sample_out_mm``, stream ``flat``).
    position_compare
        When given, the projections are a fly scan triggered by this unit (continuous
        rotation); else a step scan.
    beam
        The ring current: the CT waits, suspended, while the beam is down
        (`plans.beam_wait`), and records the current with its frames.
    detectors
        Also read with every projection of a step scan, or before and after a fly scan
        (stream ``ct_conditions``), e.g. ``[press]``.
    clock
        The station's experiment clock, read in every event (``experiment_time_s``).
    md
        Extra start-document metadata.

    Returns
    -------
    str
        The run's uid.
    """
    settings = CTSettings(num_projections, start_deg, stop_deg, exposure_s, num_darks, num_flats)
    flyer = ct_flyer(stage, detector, position_compare, data_keys.PRIMARY)
    yield from check_ct(stage, settings, flyer)
    geometry = yield from ct_geometry(stage, detector, flyer)
    metadata = plan_metadata(
        "ct_scan",
        {
            "stage": stage,
            "detector": detector,
            **asdict(settings),
            "position_compare": position_compare,
            "beam": beam,
            "detectors": list(detectors),
            "clock": clock,
        },
        md,
        detectors=clocked([detector, *detectors, *([beam] if beam is not None else [])], clock),
        motors=[stage.rotation],
        num_points=num_projections,
        dimensions=[([stage.rotation.name], data_keys.PRIMARY)],
        technique={**settings.as_dict(), **geometry},
        suspenders=describe_beam_suspender(beam),
    )

    @checkpointed_run(metadata)
    def inner() -> MsgGenerator[None]:
        yield from acquire_ct(
            stage, detector, settings, detectors, flyer=flyer, beam=beam, clock=clock
        )

    return (yield from bpp.finalize_wrapper(inner(), bps.mv(stage.shutter, Shutter.CLOSED)))


def ct_geometry(
    stage: TomographyStage, detector: TomographyDetector, flyer: RotationFlyer | None = None
) -> MsgGenerator[dict]:
    """What a reconstruction needs besides the frames: pixel size, sample in/out positions,
    and how the projections were taken (``fly`` or ``step``; a fly scan's detector readout
    and the rotation's acceleration time, s, which set its speed and run-up) (reads)."""
    sample_in_mm, sample_out_mm = yield from sample_positions(stage)
    geometry = {
        "pixel_size_um": float((yield from bps.rd(detector.pixel_size_um))),
        "sample_in_mm": sample_in_mm,
        "sample_out_mm": sample_out_mm,
        "acquisition": "step" if flyer is None else "fly",
    }
    if flyer is not None:
        geometry.update(readout_s=flyer.readout_s, acceleration_s=flyer.acceleration_s())
    return geometry
