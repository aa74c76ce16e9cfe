"""Playback models: a recorded run in place of the physics, behind the same IOCs.

`PlaybackCell` has the interface of `simulated_devices.cell.SimulatedCell` as the press,
potentiostat and tomography IOCs use it, but every measurement comes from a `Recording`:

* load cell: once the press has brought the stack to a recorded setpoint, the force recorded
  there (so the pressure reads as recorded); its resolution is the largest recorded deviation
  from a setpoint, so the feedback holds rather than chasing that deviation;
* impedance: each recorded spectrum in turn (the sweep must ask for the recorded frequencies,
  to the digits an instrument file prints: `conventions.impedance.RECORDED_FREQUENCY_RTOL`);
* half cycles: each recorded trace in turn, played on the simulated clock (the current must be
  the recorded one); rests hold the last voltage;
* detector: the recorded darks and flats in turn, and for a projection the recorded frame
  nearest the angle.

A request the recording cannot answer (one spectrum too many, another current) raises, which
the IOC publishes as the technique's error, so a rehearsal that drifts from the recorded plan
fails loudly. Run as::

    python -m simulated_devices.playback --recording run.h5 [station options]

with the options of ``python -m simulated_devices`` (see `simulated_devices.station`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from conventions.cell_geometry import disc_area_mm2
from conventions.impedance import RECORDED_FREQUENCY_RTOL
from conventions.pv_states import HalfCycleEnd

from .loopback import LOOPBACK_SERVER_ENVIRONMENT
from .physics.clock import SimClock
from .physics.electrochemistry import HalfCycleLimits
from .physics.parameters import CellParameters
from .recording import Frames, HalfCycleTrace, Recording
from .station import build_station, parse_arguments, serve_station

#: Margin added to the largest recorded setpoint deviation to make the load cell's
#: resolution, MPa.
RESOLUTION_MARGIN_MPA = 0.01


class PlaybackHalfCycle:
    """A recorded half cycle, advanced in experiment time like the physics' `HalfCycle`.

    Parameters
    ----------
    trace
        The recorded trace; it ends at its last recorded time with its recorded reason.
    """

    def __init__(self, trace: HalfCycleTrace) -> None:
        self.trace = trace
        self.elapsed_s = 0.0

    @property
    def done(self) -> bool:
        """Whether the recorded end has been reached."""
        return self.elapsed_s >= self.trace.time_s[-1]

    @property
    def reason(self) -> str | None:
        """The recorded termination reason once done, else None."""
        return self.trace.termination_reason if self.done else None

    @property
    def _points(self) -> int:
        return max(int(np.searchsorted(self.trace.time_s, self.elapsed_s, side="right")), 1)

    @property
    def time_s(self) -> np.ndarray:
        """Recorded times reached so far, experiment seconds."""
        return self.trace.time_s[: self._points]

    @property
    def voltage_V(self) -> np.ndarray:
        """Recorded voltages reached so far, V."""
        return self.trace.voltage_V[: self._points]

    @property
    def current_A(self) -> np.ndarray:
        """Recorded currents reached so far, A."""
        return self.trace.current_A[: self._points]

    @property
    def capacity_mAh(self) -> float:
        """Charge passed so far, mAh: the recorded capacity, pro rata until the end."""
        end = self.trace.time_s[-1]
        return (
            self.trace.capacity_mAh
            if self.done
            else (self.trace.capacity_mAh * self.elapsed_s / end)
        )

    def advance(self, dt_s: float) -> None:
        """Run for up to ``dt_s`` experiment seconds, stopping at the recorded end."""
        self.elapsed_s = min(self.elapsed_s + dt_s, float(self.trace.time_s[-1]))


class PlaybackElectrochemistry:
    """The cell at rest: the last voltage played back, V."""

    def __init__(self, voltage_V: float) -> None:
        self.voltage_V = voltage_V

    @property
    def open_circuit_voltage_V(self) -> float:
        """Voltage at rest, V."""
        return self.voltage_V

    def rest(self, dt_s: float) -> float:
        """Rest for ``dt_s`` experiment seconds; the voltage stays where it was, V."""
        return self.voltage_V


class PlaybackDetector:
    """The recorded frames in place of the detector model (uint16 frames of `frame_shape`).

    Darks and flats come back in their recorded order (round again if more are asked for);
    `projection` returns the frame `PlaybackProjector` picked, unchanged. Frames are as the
    recording's beam made them: a ``beam_fraction`` is taken (the tomography IOC's ring
    current) but not applied, and no beam at all gives the recorded darks.
    """

    def __init__(self, frames: Frames | None) -> None:
        self.frames = frames
        self.frame_shape: tuple[int, int] = (
            tuple(frames.projections.shape[-2:]) if frames is not None else (0, 0)
        )
        self._taken = {"darks": 0, "flats": 0}

    def _next(self, kind: str) -> np.ndarray:
        stack = getattr(self.frames, kind) if self.frames is not None else np.empty((0,))
        if not len(stack):
            raise ValueError(f"the recording has no {kind[:-1]} frames")
        index = self._taken[kind]
        self._taken[kind] += 1
        return stack[index % len(stack)]

    def dark(self) -> np.ndarray:
        """The next recorded dark frame."""
        return self._next("darks")

    def flat(self, beam_fraction: float = 1.0) -> np.ndarray:
        """The next recorded flat frame."""
        return self._next("flats")

    def projection(self, frame: np.ndarray, beam_fraction: float = 1.0) -> np.ndarray:
        """The recorded projection `PlaybackProjector.project` returned."""
        return frame


class PlaybackProjector:
    """The recorded projection nearest an angle, in place of the phantom's projector."""

    def __init__(self, frames: Frames | None) -> None:
        self.frames = frames

    def project(self, angle_deg: float) -> np.ndarray:
        """The recorded projection whose angle is nearest ``angle_deg`` (deg)."""
        if self.frames is None or not len(self.frames.projections):
            raise ValueError("the recording has no projections")
        return self.frames.projections[int(np.argmin(np.abs(self.frames.angles_deg - angle_deg)))]


class PlaybackCell:
    """A recorded run with the interface the simulated IOCs use of `SimulatedCell`.

    Parameters
    ----------
    recording
        What the run measured.
    params
        The cell's parameters (its diameter turns the load-cell force into a pressure).
    clock
        The station's simulated clock: half cycles play back in experiment time.
    """

    def __init__(self, recording: Recording, params: CellParameters, clock: SimClock) -> None:
        self.recording = recording
        self.params = params
        self.clock = clock
        self.pressure_MPa = 0.0
        self.area_mm2 = disc_area_mm2(params.geometry.diameter_mm)
        self._readings = {reading.setpoint_MPa: reading for reading in recording.press}
        deviations = [abs(r.pressure_MPa - r.setpoint_MPa) for r in recording.press]
        #: Pressure errors the press feedback leaves alone, MPa: more than any recorded
        #: reading's deviation from its setpoint, so a played-back reading is held.
        self.load_cell_resolution_MPa = (
            max(deviations) + RESOLUTION_MARGIN_MPA if deviations else 0.0
        )
        self._spectra_served = 0
        self._half_cycles_served = 0
        first_trace = recording.half_cycles[0].voltage_V[0] if recording.half_cycles else 0.0
        self.electrochemistry = PlaybackElectrochemistry(float(first_trace))
        self.detector = PlaybackDetector(recording.frames)
        self._projector = PlaybackProjector(recording.frames)

    def set_pressure(self, pressure_MPa: float) -> None:
        """Take note of the stack pressure the press exerts, MPa (nothing depends on it)."""
        self.pressure_MPa = pressure_MPa

    def load_cell_force_N(self, true_force_N: float, setpoint_MPa: float, noise_N: float) -> float:
        """The force recorded at ``setpoint_MPa`` once the press is within the resolution of
        it; the noise-free true force otherwise (``noise_N`` is not used), N."""
        reading = self._readings.get(setpoint_MPa)
        near = abs(true_force_N / self.area_mm2 - setpoint_MPa) <= self.load_cell_resolution_MPa
        return reading.force_N if reading is not None and near else true_force_N

    def load_cell_pressure_MPa(
        self, force_N: float, tare_N: float, area_mm2: float, setpoint_MPa: float
    ) -> float:
        """The pressure recorded with the force `load_cell_force_N` plays back (the run read
        the two PVs, which may come from different load-cell samples); derived from
        ``force_N`` otherwise, MPa."""
        reading = self._readings.get(setpoint_MPa)
        if reading is not None and force_N == reading.force_N:
            return reading.pressure_MPa
        return (force_N - tare_N) / area_mm2

    def impedance_spectrum(self, frequency_Hz: np.ndarray, noise_fraction: float) -> np.ndarray:
        """The next recorded spectrum, complex Ω (``noise_fraction`` is not used).

        Raises
        ------
        ValueError
            If every recorded spectrum has been served, or this one was recorded at other
            frequencies than ``frequency_Hz``.
        """
        index = self._spectra_served
        if index >= len(self.recording.spectra):
            raise ValueError(
                f"the recording holds {len(self.recording.spectra)} spectra; "
                f"spectrum {index + 1} was asked for"
            )
        spectrum = self.recording.spectra[index]
        recorded = spectrum.frequency_Hz
        if recorded.shape != frequency_Hz.shape or not np.allclose(
            recorded, frequency_Hz, rtol=RECORDED_FREQUENCY_RTOL
        ):
            raise ValueError(
                f"spectrum {index + 1} was recorded at {recorded.size} "
                f"frequencies ({recorded[0]:g} to {recorded[-1]:g} Hz), not the "
                f"{frequency_Hz.size} asked for"
            )
        self._spectra_served += 1
        return spectrum.z_real_ohm + 1j * spectrum.z_imag_ohm

    def half_cycle(self, limits: HalfCycleLimits, max_points: int) -> PlaybackHalfCycle:
        """The next recorded half cycle, or at zero current a rest at the last voltage.

        Raises
        ------
        ValueError
            If every recorded half cycle has been served, or this one ran at another current
            or holds more than ``max_points`` points.
        """
        if limits.current_A == 0:
            voltage = self.electrochemistry.voltage_V
            return PlaybackHalfCycle(
                HalfCycleTrace(
                    time_s=np.array([0.0, limits.max_duration_s]),
                    voltage_V=np.array([voltage, voltage]),
                    current_A=np.zeros(2),
                    capacity_mAh=0.0,
                    termination_reason=HalfCycleEnd.TIME_LIMIT,
                )
            )
        index = self._half_cycles_served
        if index >= len(self.recording.half_cycles):
            raise ValueError(
                f"the recording holds {len(self.recording.half_cycles)} half "
                f"cycles; half cycle {index + 1} was asked for"
            )
        trace = self.recording.half_cycles[index]
        if not math.isclose(trace.current_A[0], limits.current_A, rel_tol=1e-6):
            raise ValueError(
                f"half cycle {index + 1} was recorded at {trace.current_A[0]:.6g}"
                f" A, not the {limits.current_A:.6g} A asked for"
            )
        if trace.time_s.size > max_points:
            raise ValueError(
                f"half cycle {index + 1} holds {trace.time_s.size} points, more "
                f"than the instrument's {max_points}"
            )
        self._half_cycles_served += 1
        self.electrochemistry.voltage_V = float(trace.voltage_V[-1])
        return PlaybackHalfCycle(trace)

    def projector(self) -> PlaybackProjector:
        """Picks the recorded projection for an angle."""
        return self._projector


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a station whose IOCs play a recording back, until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m simulated_devices.playback",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--recording", type=Path, required=True, help="HDF5 file written by Recording.save"
    )
    args, station_argv = parser.parse_known_args(argv)
    for key, value in LOOPBACK_SERVER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    options, _ = parse_arguments(station_argv)
    cell = PlaybackCell(
        Recording.load(args.recording), options.parameters, SimClock(options.time_scale)
    )
    # A PlaybackCell serves the IOCs as a SimulatedCell does (duck-typed).
    _, pvdb = build_station(options, cell)  # type: ignore[arg-type]
    print(
        f"playback station {options.prefix!r}: {len(pvdb)} PVs from {args.recording}", flush=True
    )
    serve_station(options, pvdb)


if __name__ == "__main__":
    main()
