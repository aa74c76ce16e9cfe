"""What a recorded run measured, as the playback models serve it again.

A `Recording` holds the readings of one run in the order they were taken: the settled
load-cell reading at each pressure setpoint, every impedance spectrum, every half cycle's
instrument trace and the CT frames with their angles. It is filled from Tiled by
`acq.replay.plan` and handed to the playback IOC process as an HDF5 file (`Recording.save`,
`Recording.load`); nothing here knows about Tiled or Bluesky.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np


@dataclass(frozen=True)
class PressReading:
    """The load cell at one feedback setpoint: setpoint and pressure in MPa, force in N."""

    setpoint_MPa: float
    force_N: float
    pressure_MPa: float


@dataclass(frozen=True)
class Spectrum:
    """One impedance spectrum: frequencies (Hz), Z′ and Z″ (Ω), valid points only."""

    frequency_Hz: np.ndarray
    z_real_ohm: np.ndarray
    z_imag_ohm: np.ndarray


@dataclass(frozen=True)
class HalfCycleTrace:
    """One half cycle as the instrument recorded it.

    Attributes
    ----------
    time_s, voltage_V, current_A
        The trace (experiment seconds since the start, V, A), valid points only.
    capacity_mAh
        Charge passed, mAh.
    termination_reason
        Which limit ended it (``upper_cutoff``, ``time_limit``…).
    """

    time_s: np.ndarray
    voltage_V: np.ndarray
    current_A: np.ndarray
    capacity_mAh: float
    termination_reason: str


@dataclass(frozen=True)
class Frames:
    """A CT scan's frames, uint16 (N, Y, X), and the projections' angles (deg)."""

    darks: np.ndarray
    flats: np.ndarray
    projections: np.ndarray
    angles_deg: np.ndarray


@dataclass(frozen=True)
class Recording:
    """Everything a run measured that the playback serves, in the order it was measured."""

    press: tuple[PressReading, ...] = ()
    spectra: tuple[Spectrum, ...] = ()
    half_cycles: tuple[HalfCycleTrace, ...] = ()
    frames: Frames | None = field(default=None)

    def save(self, path: Path) -> None:
        """Write the recording to an HDF5 file at ``path``."""
        with h5py.File(path, "w") as file:
            press = file.create_group("press")
            for name in ("setpoint_MPa", "force_N", "pressure_MPa"):
                press[name] = np.array([getattr(r, name) for r in self.press], dtype=float)
            for index, spectrum in enumerate(self.spectra):
                _write_arrays(
                    file.create_group(f"spectra/{index}"),
                    spectrum,
                    ("frequency_Hz", "z_real_ohm", "z_imag_ohm"),
                )
            for index, trace in enumerate(self.half_cycles):
                group = file.create_group(f"half_cycles/{index}")
                _write_arrays(group, trace, ("time_s", "voltage_V", "current_A"))
                group.attrs["capacity_mAh"] = trace.capacity_mAh
                group.attrs["termination_reason"] = trace.termination_reason
            if self.frames is not None:
                _write_arrays(
                    file.create_group("frames"),
                    self.frames,
                    ("darks", "flats", "projections", "angles_deg"),
                )

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read a recording written by `save`."""
        with h5py.File(path, "r") as file:
            press = file["press"]
            columns = (press["setpoint_MPa"][()], press["force_N"][()], press["pressure_MPa"][()])
            readings = tuple(
                PressReading(float(s), float(f), float(p))
                for s, f, p in zip(*columns, strict=True)
            )
            spectra = tuple(
                Spectrum(**_read_arrays(group)) for group in _indexed(file.get("spectra"))
            )
            traces = tuple(
                HalfCycleTrace(
                    **_read_arrays(group),
                    capacity_mAh=float(group.attrs["capacity_mAh"]),
                    termination_reason=str(group.attrs["termination_reason"]),
                )
                for group in _indexed(file.get("half_cycles"))
            )
            frames = Frames(**_read_arrays(file["frames"])) if "frames" in file else None
        return cls(press=readings, spectra=spectra, half_cycles=traces, frames=frames)


def _write_arrays(group: h5py.Group, source: object, names: tuple[str, ...]) -> None:
    for name in names:
        group[name] = np.asarray(getattr(source, name))


def _read_arrays(group: h5py.Group) -> dict[str, np.ndarray]:
    return {name: dataset[()] for name, dataset in group.items()}


def _indexed(group: h5py.Group | None) -> list[h5py.Group]:
    """The numbered subgroups of ``group`` in their order (none if it is absent)."""
    if group is None:
        return []
    return [group[key] for key in sorted(group, key=int)]
