"""Simulated tomography stage and area detector, over caproto.

PVs (under the group prefix, e.g. ``SIM:tomo:``), modelled on motor records, a shutter and an
areaDetector camera with its HDF5 file plugin (docs/pv_conventions.md), so ophyd's own
``AreaDetector`` + ``HDF5Plugin`` + ``FileStoreHDF5IterativeWrite`` classes drive it:

==========================  =====  =======================================================
PV                          unit   meaning
==========================  =====  =======================================================
``rot``                     deg    rotation stage (motor record)
``samx``                    mm     sample translation; |samx| > `SAMPLE_IN_BEAM_MM`: out
``Shutter`` ``Shutter_RBV``        Closed / Open
``BeamCurrent_RBV``         mA     the storage ring's current, as the beamline reads it
``BeamCurrent``             mA     simulation only: sets the ring current (a beam dump: 0)
``cam1:Acquire[_RBV]``             busy: 1 acquires ``NumImages`` frames (1 in Single mode)
``cam1:AcquireTime[_RBV]``  s      exposure per frame (experiment time)
``cam1:NumImages[_RBV]``           frames per acquisition
``cam1:ImageMode[_RBV]``           Single / Multiple / Continuous
``cam1:TriggerMode[_RBV]``         Internal (timed frames) / External (a frame per pulse)
``cam1:ArrayCounter[_RBV]``        frames acquired (settable)
``cam1:ArraySizeX/Y_RBV``   px     frame width (detector columns) and height (slices)
``cam1:DataType[_RBV]``            UInt16
``cam1:StatusMessage_RBV``         the driver's status: `STATUS_IDLE`, `STATUS_ACQUIRING`,
                                   "Acquisition stopped" or "Error: <why>"
``HDF1:FilePath[_RBV]``            directory the plugin writes to (created on demand)
``HDF1:FileName[_RBV]``            file name stem
``HDF1:FileNumber[_RBV]``          next file number (auto-incremented on open)
``HDF1:FileTemplate[_RBV]``        printf template of (path, name, number)
``HDF1:FileWriteMode[_RBV]``       Single / Capture / Stream (Stream simulated)
``HDF1:Capture[_RBV]``             1 opens the file; every frame is appended; 0 closes it
``HDF1:NumCaptured_RBV``           frames written to the open file and flushed
``HDF1:FullFileName_RBV``          the open (last) file
``HDF1:WriteStatus``               Write OK / Write error (the last file operation)
``HDF1:WriteMessage``              why the last file operation failed; empty when none
``ErrorMsg``                       last fault (e.g. a file that could not be written)
``pc:PC_*``                        position compare on the rotation (see
                                   `simulated_devices.position_compare`), wired to the
                                   camera's external trigger input
==========================  =====  =======================================================

Frames: shutter closed → dark; sample out of the beam → flat; else a projection of the cell's
phantom at the rotation's readback (Internal) or at the pulse's latched position (External:
a fly scan; the simulated frame has no motion blur). The flux scales with the ring current
over `NOMINAL_BEAM_CURRENT_MA` (no beam: frames as dark as with the shutter closed).
``Acquire`` = 0 stops an acquisition.

Files are HDF5 with the frames at ``/entry/data/data`` (N, Y, X) uint16 and each frame's
rotation angle at ``/entry/instrument/NDAttributes/RotationAngle_deg``, opened for SWMR so
Tiled can read them while written (`simulated_devices.frame_file.FrameFile`: a frame's chunk is
written as it arrives, the file flushed every `~simulated_devices.frame_file.FLUSH_INTERVAL_S`,
at the end of an acquisition and at close). ``HDF1:NumCaptured_RBV`` counts the frames flushed,
so a client registering ``NumCaptured`` frames never points a reader past what it can see.
"""

from __future__ import annotations

import asyncio
import math
import os
from pathlib import Path

import numpy as np
from caproto import ChannelType
from caproto.server import pvproperty

from conventions.pv_states import Shutter, TriggerMode

from .cell import SimulatedCell
from .frame_file import FrameFile
from .motor import SimulatedMotor
from .position_compare import PositionCompareIOC
from .pvs import MESSAGE_LENGTH, ReportingGroup, message_pv

#: |samx| beyond which the sample is out of the beam, mm.
SAMPLE_IN_BEAM_MM = 1.0
#: Acceleration times (``.ACCL``) of the rotation and the sample translation, s: an
#: air-bearing rotation stage's and a linear stage's.
ROTATION_ACCELERATION_S, SAMPLE_ACCELERATION_S = 0.2, 0.1
#: The camera's status messages while idle and while acquiring (ADSimDetector's words).
STATUS_IDLE, STATUS_ACQUIRING = "Waiting for acquire command", "Acquiring data"
#: A file plugin's write status (NDFile's ``WriteStatus``).
WRITE_STATUS = ["Write OK", "Write error"]
#: asyn port names of the camera and the HDF5 plugin.
CAM_PORT, HDF_PORT = "CAM", "HDF1"
#: Longest exposure or frame period the camera takes, experiment seconds.
MAX_EXPOSURE_S = 3600.0
#: The storage ring's current the frames' flux is modelled at, mA.
NOMINAL_BEAM_CURRENT_MA = 400.0
#: Highest ring current the simulation takes, mA.
MAX_BEAM_CURRENT_MA = 1000.0


def _positive_time(value: float) -> str | None:
    if isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= MAX_EXPOSURE_S:
        return None
    return f"must be > 0 and <= {MAX_EXPOSURE_S:g} s"


def _ring_current(value: float) -> str | None:
    if math.isfinite(value) and 0 <= value <= MAX_BEAM_CURRENT_MA:
        return None
    return f"must be >= 0 and <= {MAX_BEAM_CURRENT_MA:g} mA"


def _at_least(minimum: int):
    def check(value: int) -> str | None:
        return None if value >= minimum else f"must be >= {minimum}"

    return check


#: Settings checked before they are echoed: suffix → why a value is refused (None: taken).
_SETTING_CHECKS = {
    "cam1:AcquireTime": _positive_time,
    "cam1:AcquirePeriod": _positive_time,
    "cam1:NumImages": _at_least(1),
    "cam1:NumExposures": _at_least(1),
    "HDF1:NumCapture": _at_least(0),
    "BeamCurrent": _ring_current,
}


def _pair(name: str, value, **kwargs) -> tuple[pvproperty, pvproperty]:
    """A setting ``name`` and its exact-echo ``name_RBV`` readback."""
    return (
        pvproperty(name=name, value=value, **kwargs),
        pvproperty(name=name + "_RBV", value=value, read_only=True, **kwargs),
    )


def _text_pair(name: str, value: str = "") -> tuple[pvproperty, pvproperty]:
    """A long-string (char waveform) setting and its readback, as areaDetector's paths."""
    options = {"dtype": ChannelType.CHAR, "max_length": MESSAGE_LENGTH, "string_encoding": "utf-8"}
    return _pair(name, value, **options)


def _enum_pair(name: str, value: str, strings: list[str]) -> tuple[pvproperty, pvproperty]:
    return _pair(name, value, dtype=ChannelType.ENUM, enum_strings=strings)


def _readback(name: str, value, **kwargs) -> pvproperty:
    return pvproperty(name=name, value=value, read_only=True, **kwargs)


class TomographyIOC(ReportingGroup):
    """Rotation stage, sample translation, shutter and area detector of one station.

    Parameters
    ----------
    cell
        The simulated cell (its phantom, projector and detector model make the frames).
    data_dir
        The data directory: relative ``FilePath`` values resolve under it, and no file is
        written outside it (a path or file name leading elsewhere is refused).
    """

    #: Settings a stray client may not write while the station holds its lock
    #: (`simulated_devices.access`).
    locked_while_busy = ("Shutter", "HDF1:FilePath", "HDF1:FileName", "HDF1:FileTemplate")

    shutter, shutter_rbv = _enum_pair("Shutter", Shutter.CLOSED, list(Shutter))
    error_message = message_pv("ErrorMsg", "last fault; empty when none")
    beam_current, beam_current_rbv = _pair(
        "BeamCurrent", NOMINAL_BEAM_CURRENT_MA, units="mA", precision=1
    )

    acquire, acquire_rbv = _pair("cam1:Acquire", 0, dtype=ChannelType.INT)
    acquire_time, acquire_time_rbv = _pair("cam1:AcquireTime", 0.05, units="s", precision=4)
    acquire_period, acquire_period_rbv = _pair("cam1:AcquirePeriod", 0.05, units="s", precision=4)
    num_images, num_images_rbv = _pair("cam1:NumImages", 1, dtype=ChannelType.INT)
    num_exposures, num_exposures_rbv = _pair("cam1:NumExposures", 1, dtype=ChannelType.INT)
    image_mode, image_mode_rbv = _enum_pair(
        "cam1:ImageMode", "Multiple", ["Single", "Multiple", "Continuous"]
    )
    trigger_mode, trigger_mode_rbv = _enum_pair(
        "cam1:TriggerMode", TriggerMode.INTERNAL, list(TriggerMode)
    )
    cam_array_counter, cam_array_counter_rbv = _pair("cam1:ArrayCounter", 0, dtype=ChannelType.INT)
    array_callbacks, array_callbacks_rbv = _enum_pair(
        "cam1:ArrayCallbacks", "Enable", ["Disable", "Enable"]
    )
    data_type, data_type_rbv = _enum_pair(
        "cam1:DataType",
        "UInt16",
        ["Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Float32", "Float64"],
    )
    data_type_disabled = _readback("cam1:DataType_RBV.DISA", 0, dtype=ChannelType.INT)
    array_size_x = _readback("cam1:ArraySizeX_RBV", 0, dtype=ChannelType.INT)
    array_size_y = _readback("cam1:ArraySizeY_RBV", 0, dtype=ChannelType.INT)
    array_size_z = _readback("cam1:ArraySizeZ_RBV", 0, dtype=ChannelType.INT)
    array_size_bytes = _readback("cam1:ArraySize_RBV", 0, dtype=ChannelType.INT)
    detector_state = _readback(
        "cam1:DetectorState_RBV",
        "Idle",
        dtype=ChannelType.ENUM,
        enum_strings=["Idle", "Acquire", "Readout", "Error"],
    )
    num_images_counter = _readback("cam1:NumImagesCounter_RBV", 0, dtype=ChannelType.INT)
    status_message = message_pv("cam1:StatusMessage_RBV", "the camera driver's status")
    cam_port_name = _readback("cam1:PortName_RBV", CAM_PORT, dtype=ChannelType.STRING)
    manufacturer = _readback("cam1:Manufacturer_RBV", "ssb-beamline", dtype=ChannelType.STRING)
    model = _readback("cam1:Model_RBV", "simulated sCMOS", dtype=ChannelType.STRING)

    plugin_type = _readback("HDF1:PluginType_RBV", "NDFileHDF5", dtype=ChannelType.STRING)
    hdf_port_name = _readback("HDF1:PortName_RBV", HDF_PORT, dtype=ChannelType.STRING)
    nd_array_port, nd_array_port_rbv = _pair(
        "HDF1:NDArrayPort", CAM_PORT, dtype=ChannelType.STRING
    )
    enable, enable_rbv = _enum_pair("HDF1:EnableCallbacks", "Enable", ["Disable", "Enable"])
    blocking, blocking_rbv = _enum_pair("HDF1:BlockingCallbacks", "Yes", ["No", "Yes"])
    hdf_array_counter, hdf_array_counter_rbv = _pair("HDF1:ArrayCounter", 0, dtype=ChannelType.INT)
    hdf_size0 = _readback("HDF1:ArraySize0_RBV", 0, dtype=ChannelType.INT)
    hdf_size1 = _readback("HDF1:ArraySize1_RBV", 0, dtype=ChannelType.INT)
    hdf_size2 = _readback("HDF1:ArraySize2_RBV", 0, dtype=ChannelType.INT)
    file_path, file_path_rbv = _text_pair("HDF1:FilePath")
    file_name, file_name_rbv = _text_pair("HDF1:FileName")
    file_template, file_template_rbv = _text_pair("HDF1:FileTemplate", "%s%s_%6.6d.h5")
    full_file_name = _readback(
        "HDF1:FullFileName_RBV",
        "",
        dtype=ChannelType.CHAR,
        max_length=MESSAGE_LENGTH,
        string_encoding="utf-8",
    )
    file_path_exists = _readback("HDF1:FilePathExists_RBV", 0, dtype=ChannelType.INT)
    # As an IOC configured to create the dated directories a file store asks for: −N creates
    # missing directories up to N levels deep (ophyd's HDF5Plugin does not set it).
    create_directory, create_directory_rbv = _pair(
        "HDF1:CreateDirectory", -5, dtype=ChannelType.INT
    )
    file_number, file_number_rbv = _pair("HDF1:FileNumber", 0, dtype=ChannelType.INT)
    auto_increment, auto_increment_rbv = _enum_pair("HDF1:AutoIncrement", "Yes", ["No", "Yes"])
    auto_save, auto_save_rbv = _enum_pair("HDF1:AutoSave", "Yes", ["No", "Yes"])
    file_write_mode, file_write_mode_rbv = _enum_pair(
        "HDF1:FileWriteMode", "Stream", ["Single", "Capture", "Stream"]
    )
    num_capture, num_capture_rbv = _pair("HDF1:NumCapture", 0, dtype=ChannelType.INT)
    capture, capture_rbv = _pair("HDF1:Capture", 0, dtype=ChannelType.INT)
    num_captured = _readback("HDF1:NumCaptured_RBV", 0, dtype=ChannelType.INT)
    write_status = _readback(
        "HDF1:WriteStatus", WRITE_STATUS[0], dtype=ChannelType.ENUM, enum_strings=WRITE_STATUS
    )
    write_message = message_pv("HDF1:WriteMessage", "why the last file operation failed")

    def __init__(self, *args, cell: SimulatedCell, data_dir: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cell = cell
        self.data_dir = Path(data_dir).resolve()
        self.position_compare = PositionCompareIOC(
            prefix=self.prefix + "pc:",
            parent=self,
            clock=cell.clock,
            on_pulse=self._external_trigger,
        )
        self.rotation = SimulatedMotor(
            prefix=self.prefix + "rot",
            parent=self,
            clock=cell.clock,
            limits=(-3600.0, 3600.0),
            velocity=30.0,
            acceleration_s=ROTATION_ACCELERATION_S,
            units="deg",
            on_position=self.position_compare.follow,
        )
        self.pvdb.update(self.position_compare.pvdb)
        self.sample_x = SimulatedMotor(
            prefix=self.prefix + "samx",
            parent=self,
            clock=cell.clock,
            limits=(-20.0, 20.0),
            velocity=2.0,
            acceleration_s=SAMPLE_ACCELERATION_S,
            units="mm",
        )
        self.pvdb.update(self.rotation.pvdb)
        self.pvdb.update(self.sample_x.pvdb)
        self._file: FrameFile | None = None
        self._flusher: asyncio.Task | None = None
        # Latched rotation angles of external trigger pulses; None asks to stop.
        self._triggers: asyncio.Queue[float | None] = asyncio.Queue()
        self._stop_requested = False
        self._readback_of = {}
        for attr in dir(type(self)):
            if isinstance(getattr(type(self), attr + "_rbv", None), pvproperty):
                setting = getattr(self, attr)
                self._readback_of[setting] = getattr(self, attr + "_rbv")
                if attr not in _ACTIVE_SETTINGS:
                    setting.putter = self._echo

    async def _echo(self, instance, value):
        """Accept a setting (refusing one `_SETTING_CHECKS` refuses) and echo it exactly to
        its ``_RBV``."""
        check = _SETTING_CHECKS.get(instance.pvname[len(self.prefix) :])
        why = check(value) if check is not None else None
        if why is not None:
            raise ValueError(why)
        await self._readback_of[instance].write(value)
        return value

    @acquire_time.startup
    async def acquire_time(self, instance, async_lib):
        self.async_lib = async_lib
        height, width = self.cell.detector.frame_shape
        # The HDF5 plugin knows the frame size only once a frame has passed through it, as a
        # freshly started areaDetector IOC's: a client must prime it before it can capture.
        for pv, value in (
            (self.array_size_x, width),
            (self.array_size_y, height),
            (self.array_size_bytes, 2 * width * height),
            (self.status_message, STATUS_IDLE),
        ):
            await pv.write(value)
        await self.file_path_exists.write(int(self.data_dir.is_dir()))

    # -- shutter ---------------------------------------------------------------------------
    @shutter.putter
    async def shutter(self, instance, value):
        await self.shutter_rbv.write(value)
        return value

    # -- camera ----------------------------------------------------------------------------
    @acquire.putter
    async def acquire(self, instance, value):
        """Acquire NumImages frames (1 in Single mode); 0 stops an acquisition under way.

        Internal trigger: a frame every AcquireTime. External: a frame per position-compare
        pulse, at the pulse's angle. The put completes when the acquisition ends.
        """
        if not value:
            if self.acquire_rbv.value:
                self._stop_requested = True
                self._triggers.put_nowait(None)
            return 0
        if self.acquire_rbv.value:
            return 1
        while not self._triggers.empty():  # pulses that arrived before this acquisition
            self._triggers.get_nowait()
        self._stop_requested = False
        await self.acquire_rbv.write(1)
        await self.detector_state.write("Acquire")
        await self.status_message.write(STATUS_ACQUIRING)
        frames = 1 if self.image_mode_rbv.value == "Single" else self.num_images_rbv.value
        external = self.trigger_mode_rbv.value == TriggerMode.EXTERNAL
        try:
            await self.num_images_counter.write(0)
            for index in range(frames):
                if external:
                    angle = await self._triggers.get()
                else:
                    await self.async_lib.library.sleep(
                        self.cell.clock.wall_seconds(self.acquire_time_rbv.value)
                    )
                    angle = self.rotation.position
                if self._stop_requested:
                    break
                await self._take_frame(angle)
                await self.num_images_counter.write(index + 1)
            await self._flush()  # the frames of this acquisition, all visible when it ends
        except Exception as error:  # publish every fault; never leave Acquire hanging
            why = f"{type(error).__name__}: {error}"
            await self.error_message.write(f"acquisition failed: {why}")
            await self.status_message.write(f"Error: {why}")
            await self.detector_state.write("Error")
        else:
            await self.status_message.write(
                "Acquisition stopped" if self._stop_requested else STATUS_IDLE
            )
            await self.detector_state.write("Idle")
        await self.acquire_rbv.write(0)
        return 0

    async def _external_trigger(self, index: int, angle_deg: float, time_s: float) -> None:
        """A position-compare pulse: a frame at ``angle_deg`` if acquiring in External mode."""
        if self.acquire_rbv.value and self.trigger_mode_rbv.value == TriggerMode.EXTERNAL:
            self._triggers.put_nowait(angle_deg)

    def _frame(self, angle_deg: float) -> np.ndarray:
        model = self.cell.detector
        beam = self.beam_current_rbv.value / NOMINAL_BEAM_CURRENT_MA
        if self.shutter_rbv.value != Shutter.OPEN or beam <= 0:
            return model.dark()
        if abs(self.sample_x.position) > SAMPLE_IN_BEAM_MM:
            return model.flat(beam)
        return model.projection(self.cell.projector().project(angle_deg), beam)

    async def _take_frame(self, angle_deg: float) -> None:
        if self._file is None:
            # Not captured (as when a client primes the plugin): its size is all anyone sees,
            # and a played-back recording keeps its frames for those captured.
            frame = np.zeros(self.cell.detector.frame_shape, dtype=np.uint16)
        else:
            # Rendering takes milliseconds of numpy: off the event loop, so Channel Access
            # stays responsive while a fly scan's frames are made back to back.
            frame = await asyncio.to_thread(self._frame, angle_deg)
        counter = self.cam_array_counter_rbv.value + 1
        await self.cam_array_counter_rbv.write(counter)
        await self.cam_array_counter.write(counter, verify_value=False)
        if self.enable_rbv.value == "Enable":  # the frame passes through the HDF5 plugin
            await self.hdf_array_counter_rbv.write(self.hdf_array_counter_rbv.value + 1)
            if not self.hdf_size0.value:
                await self.hdf_size0.write(frame.shape[1])
                await self.hdf_size1.write(frame.shape[0])
        if self._file is not None:
            if self._file.append(frame, angle_deg):
                await self.num_captured.write(self._file.visible)
            if 0 < self.num_capture_rbv.value <= self._file.written:
                await self._close_file()

    # -- HDF5 plugin -----------------------------------------------------------------------
    @file_path.putter
    async def file_path(self, instance, value):
        path = self._resolve(value)
        if not path.is_relative_to(self.data_dir):
            raise ValueError(f"outside the data directory {self.data_dir}")
        if self.create_directory_rbv.value != 0:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                await self.error_message.write(f"cannot create {path}: {error}")
        await self.file_path_exists.write(int(path.is_dir()))
        await self.file_path_rbv.write(value)
        return value

    @capture.putter
    async def capture(self, instance, value):
        if value and self._file is None:
            try:
                await self._open_file()
            except Exception as error:  # publish, and stay out of capture
                why = f"cannot open HDF5 file: {type(error).__name__}: {error}"
                await self.error_message.write(why)
                await self.write_message.write(why)
                await self.write_status.write("Write error")
                await self.capture_rbv.write(0)
                return 0
            await self.write_message.write("")
            await self.write_status.write("Write OK")
        elif not value and self._file is not None:
            await self._close_file()
        await self.capture_rbv.write(int(bool(value)))
        return value

    def _resolve(self, name: str) -> Path:
        """``name`` as an absolute path with no ``..`` or symbolic link left in it."""
        return (self.data_dir / name).resolve()

    async def _open_file(self) -> None:
        name = self.file_template_rbv.value % (
            self.file_path_rbv.value,
            self.file_name_rbv.value,
            self.file_number_rbv.value,
        )
        path = self._resolve(name)
        if not path.is_relative_to(self.data_dir):  # a file name or template leading out
            raise ValueError(f"{path} is outside the data directory {self.data_dir}")
        if self.create_directory_rbv.value != 0:  # as areaDetector: create on open
            path.parent.mkdir(parents=True, exist_ok=True)
        await self.file_path_exists.write(int(path.parent.is_dir()))
        self._file = FrameFile(path, self.cell.detector.frame_shape)
        self._flusher = asyncio.create_task(self._flush_while_open(self._file))
        await self.full_file_name.write(os.fspath(name))
        await self.num_captured.write(0)
        if self.auto_increment_rbv.value == "Yes":
            number = self.file_number_rbv.value + 1
            await self.file_number_rbv.write(number)
            await self.file_number.write(number, verify_value=False)

    async def _flush_while_open(self, file: FrameFile) -> None:
        """Flush ``file`` when a frame has waited `FrameFile.flush_interval_s` (frames that
        stop arriving mid-acquisition are shown all the same), until it is closed."""
        while True:
            due_in_s = file.seconds_to_flush()
            await asyncio.sleep(file.flush_interval_s if due_in_s is None else max(due_in_s, 0))
            try:
                flushed = file.flush_if_due()
            except Exception as error:  # publish, as a failed open is
                why = f"cannot flush the HDF5 file: {type(error).__name__}: {error}"
                await self.error_message.write(why)
                await self.write_message.write(why)
                await self.write_status.write("Write error")
                return
            if flushed:
                await self.num_captured.write(file.visible)

    async def _flush(self) -> None:
        """Show every frame written so far to readers, and count them in NumCaptured."""
        if self._file is not None:
            self._file.flush()
            await self.num_captured.write(self._file.visible)

    async def _close_file(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._file is not None:
            self._file.close()
            await self.num_captured.write(self._file.visible)
            self._file = None
        await self.capture_rbv.write(0)
        await self.capture.write(0, verify_value=False)


#: Settings with putters of their own (they still have an ``_RBV``, written by the putter).
_ACTIVE_SETTINGS = {"shutter", "acquire", "file_path", "capture"}
