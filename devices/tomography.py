"""Tomography stage and area detector (ophyd v1, pyepics), on ophyd's own areaDetector classes.

The detector is ``SingleTrigger + AreaDetector`` with the camera on ``cam1:`` and the HDF5 file
plugin on ``HDF1:`` (``HDF5Plugin + FileStoreHDF5IterativeWrite``): frames stay in the IOC's
HDF5 files and every reading is a Datum reference into them (Resource spec ``AD_HDF5``), which
TiledWriter turns into StreamResource/StreamDatum for the Tiled server to read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ophyd import Component as Cpt
from ophyd import Device, EpicsMotor, EpicsSignal, Signal
from ophyd.areadetector import AreaDetector, SingleTrigger
from ophyd.areadetector.cam import AreaDetectorCam
from ophyd.areadetector.filestore_mixins import FileStoreHDF5IterativeWrite
from ophyd.areadetector.plugins import HDF5Plugin
from ophyd.device import Staged
from ophyd.status import DeviceStatus, SubscriptionStatus

from conventions.pv_states import TriggerMode

#: Wall seconds each step of priming the HDF5 plugin may take.
PRIME_TIMEOUT_S = 10.0


class TomographyStage(Device):
    """Rotation, sample translation and shutter.

    ========================  ========================  =====  ===============================
    attribute                 PV suffix                 unit   meaning
    ========================  ========================  =====  ===============================
    ``rotation``              ``rot``                   deg    rotation stage (motor record)
    ``sample_x``              ``samx``                  mm     sample translation (motor
                                                               record)
    ``shutter``               ``Shutter_RBV``/                 `Shutter` Closed / Open
                              ``Shutter``
    ``sample_in_mm``          (soft)                    mm     sample_x in the beam
    ``sample_out_mm``         (soft)                    mm     sample_x out of the beam
                                                               (flats)
    ``sample_speed_mm_s``     (soft)                    mm/s   sample_x's speed in a CT
    ``rotation_speed_deg_s``  (soft)                    deg/s  the rotation's speed between
                                                               fly passes and steps
    ========================  ========================  =====  ===============================
    """

    rotation = Cpt(EpicsMotor, "rot", kind="hinted")
    sample_x = Cpt(EpicsMotor, "samx", kind="normal")
    shutter = Cpt(
        EpicsSignal,
        "Shutter_RBV",
        write_pv="Shutter",
        string=True,
        put_complete=True,
        kind="config",
    )
    sample_in_mm = Cpt(Signal, value=0.0, kind="config")
    sample_out_mm = Cpt(Signal, value=5.0, kind="config")
    sample_speed_mm_s = Cpt(Signal, value=10.0, kind="config")
    rotation_speed_deg_s = Cpt(Signal, value=90.0, kind="config")


class HDF5PluginWithFileStore(HDF5Plugin, FileStoreHDF5IterativeWrite):
    """The HDF5 file plugin, emitting Resource/Datum documents for the frames it writes
    (its reading is the frame's reference; its settings are not configuration)."""

    _default_configuration_attrs = ()


class TomographyCam(AreaDetectorCam):
    """The camera; every scan records its timing and triggering as configuration (ophyd's
    areaDetector classes declare that with ``_default_configuration_attrs``)."""

    _default_configuration_attrs = (
        "acquire_time",
        "acquire_period",
        "num_images",
        "image_mode",
        "trigger_mode",
    )


class TomographyDetector(SingleTrigger, AreaDetector):
    """Area detector writing frames to HDF5 under ``data_dir``.

    =====================  ==========  =====  =============================================
    attribute              PV prefix   unit   meaning
    =====================  ==========  =====  =============================================
    ``cam``                ``cam1:``          `TomographyCam`: AcquireTime (s), NumImages…
                                              (configuration)
    ``hdf1``               ``HDF1:``          HDF5 plugin; frames in ``data_dir/%Y/%m/%d/``
                                              (each reading: a frame by reference)
    ``pixel_size_um``      (soft)      µm     pixel size at the sample (configuration)
    =====================  ==========  =====  =============================================

    Parameters
    ----------
    data_dir
        Directory the IOC writes to, as both the IOC and this process see it (absolute).
    pixel_size_um
        Pixel size at the sample, µm (recorded with every scan's configuration).
    """

    # ophyd's areaDetector classes set their parts' kinds from these (not from ``kind=``).
    _default_read_attrs = ("hdf1",)
    _default_configuration_attrs = ("cam", "pixel_size_um")

    cam = Cpt(TomographyCam, "cam1:")
    hdf1 = Cpt(HDF5PluginWithFileStore, "HDF1:", write_path_template="/", read_path_template="/")
    pixel_size_um = Cpt(Signal, value=1.0)

    def __init__(
        self,
        prefix: str = "",
        *,
        name: str,
        data_dir: Path,
        pixel_size_um: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(prefix, name=name, **kwargs)
        template = str(Path(data_dir).resolve()) + "/%Y/%m/%d/"
        self.hdf1.write_path_template = self.hdf1.read_path_template = template
        self.pixel_size_um.put(pixel_size_um)

    def stage(self) -> list[object]:
        """Stage as ophyd's areaDetector classes do, priming the HDF5 plugin first if it has
        seen no frame yet (as after an IOC restart: it then cannot capture)."""
        if not any(self.hdf1.array_size.get()):
            self.prime_hdf5()
        return super().stage()

    def prime_hdf5(self, timeout_s: float = PRIME_TIMEOUT_S) -> None:
        """Pass one internally triggered frame through the HDF5 plugin (not captured), so it
        learns the frame size; every setting it changes is restored.

        Raises
        ------
        TimeoutError
            If the plugin still knows no frame size after ``timeout_s``.
        """
        cam = self.cam
        settings = {
            self.hdf1.enable: "Enable",
            cam.array_callbacks: "Enable",
            cam.image_mode: "Single",
            cam.trigger_mode: TriggerMode.INTERNAL,
        }
        saved = {signal: signal.get() for signal in settings}
        try:
            for signal, value in settings.items():
                signal.set(value).wait(timeout_s)
            primed = SubscriptionStatus(
                self.hdf1.array_size.width,
                lambda *args, value, **kwargs: value > 0,
                timeout=timeout_s,
                run=True,
            )
            # Acquire is a busy record: its put completes once the frame has been taken.
            cam.acquire.put(1, wait=True, use_complete=True, timeout=timeout_s)
            primed.wait(timeout_s)
        finally:
            for signal, value in saved.items():
                signal.set(value).wait(timeout_s)

    def trigger(self) -> DeviceStatus:
        """Take one frame; the status finishes when ``Acquire`` falls back to 0.

        `SingleTrigger.trigger` returns ``self._status``, which its acquire callback resets to
        None when the frame is done — on a fast (or simulated) camera that can happen before
        the return, handing bluesky None. Keep the status in a local instead.
        """
        if self._staged != Staged.yes:
            raise RuntimeError(f"{self.name} is not staged: stage it before triggering")
        status = self._status = self._status_type(self)
        self._acquisition_signal.put(1, wait=False)
        self.generate_datum(self._image_name, time.time(), {})
        return status
