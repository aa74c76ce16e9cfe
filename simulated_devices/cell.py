"""The one simulated cell that all three IOCs of a station act on.

The press sets its stack pressure, the potentiostat measures and cycles it, the detector images
it. Pressure-dependent models (microstructure, circuit, phantom) are recomputed only when the
pressure has moved by more than `PRESSURE_RESOLUTION_MPA`; phantoms are cached per pressure
because building one takes about a second.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .physics.clock import SimClock
from .physics.electrochemistry import ElectrochemicalCell, HalfCycle, HalfCycleLimits
from .physics.impedance import EquivalentCircuit, circuit_at, measured_spectrum
from .physics.microstructure import Microstructure, microstructure_at
from .physics.parameters import CellParameters
from .physics.phantom import Phantom, make_phantom, phantom_imaging
from .physics.projection import DetectorModel, ParallelBeamProjector, attenuation_volume

#: Stack pressure changes smaller than this leave the microstructure as it is, MPa.
PRESSURE_RESOLUTION_MPA = 0.5
#: Lowest pressure the microstructure laws are evaluated at (a cell is never unloaded), MPa.
MINIMUM_MODEL_PRESSURE_MPA = 1.0


class SimulatedCell:
    """State shared by the simulated press, potentiostat and tomography IOCs.

    Parameters
    ----------
    params
        The cell's parameters.
    clock
        The station's simulated clock.
    seed
        Seed of every random draw (noise, phantom); the same seed gives the same station.

    The IOCs ask this object for every measurement (load-cell force, impedance spectrum, half
    cycle, frames), so a model with the same interface can stand in for it
    (`simulated_devices.playback.PlaybackCell` plays a recorded run back).
    """

    #: Pressure errors smaller than this are not corrected by the press feedback, MPa (the
    #: load cell of the physics model resolves any change).
    load_cell_resolution_MPa = 0.0

    def __init__(self, params: CellParameters, clock: SimClock, seed: int = 0) -> None:
        self.params = params
        self.clock = clock
        self.seed = seed
        streams = np.random.SeedSequence(seed).spawn(3)
        self.noise_rng = np.random.default_rng(streams[0])
        self.electrochemistry = ElectrochemicalCell(params, np.random.default_rng(streams[1]))
        self.detector = DetectorModel(params.imaging, np.random.default_rng(streams[2]))
        self.temperature_K = params.geometry.temperature_K
        self.pressure_MPa = 0.0
        self._model_pressure_MPa = MINIMUM_MODEL_PRESSURE_MPA
        self._update_conditions()

    @property
    def microstructure(self) -> Microstructure:
        """Microstructure at the last modelled pressure."""
        return microstructure_at(self._model_pressure_MPa, self.params)

    @property
    def circuit(self) -> EquivalentCircuit:
        """Equivalent circuit at the last modelled pressure and the cell temperature."""
        return circuit_at(self.microstructure, self.params, self.temperature_K)

    def set_pressure(self, pressure_MPa: float) -> None:
        """Apply the stack pressure the load cell measures, MPa."""
        self.pressure_MPa = pressure_MPa
        model_pressure = max(pressure_MPa, MINIMUM_MODEL_PRESSURE_MPA)
        if abs(model_pressure - self._model_pressure_MPa) > PRESSURE_RESOLUTION_MPA:
            self._model_pressure_MPa = model_pressure
            self._update_conditions()

    def _update_conditions(self) -> None:
        circuit = self.circuit
        self.electrochemistry.set_conditions(
            pressure_MPa=self._model_pressure_MPa,
            series_resistance_ohm=circuit.R0_ohm + circuit.R_b_ohm + circuit.R_gb_ohm,
            charge_transfer_resistance_ohm=circuit.R_ct_ohm,
        )

    def load_cell_force_N(self, true_force_N: float, setpoint_MPa: float, noise_N: float) -> float:
        """What the load cell reads: the true force plus Gaussian noise, N.

        Parameters
        ----------
        true_force_N
            Force the press exerts on the stack, N.
        setpoint_MPa
            The feedback's target, MPa (not used by the physics; a playback model looks its
            recorded reading up by it).
        noise_N
            Standard deviation of the load-cell noise, N.
        """
        return true_force_N + noise_N * self.noise_rng.standard_normal()

    def load_cell_pressure_MPa(
        self, force_N: float, tare_N: float, area_mm2: float, setpoint_MPa: float
    ) -> float:
        """The stack pressure derived from the load cell's ``force_N``, MPa.

        ``setpoint_MPa`` is not used by the physics; a playback model looks its recorded
        reading up by it.
        """
        return (force_N - tare_N) / area_mm2

    def impedance_spectrum(self, frequency_Hz: np.ndarray, noise_fraction: float) -> np.ndarray:
        """Impedance the potentiostat measures at ``frequency_Hz`` (Hz), complex Ω, with
        proportional noise of ``noise_fraction`` of |Z|."""
        return measured_spectrum(self.circuit, frequency_Hz, noise_fraction, self.noise_rng)

    def half_cycle(self, limits: HalfCycleLimits, max_points: int) -> HalfCycle:
        """A galvanostatic half cycle (or rest, at zero current) on this cell, not yet run."""
        return HalfCycle(self.electrochemistry, limits, max_points)

    def phantom(self) -> Phantom:
        """Voxel phantom of the cell at the current pressure (cached per rounded pressure)."""
        return _phantom(self.params, self._rounded_pressure(), self.seed)

    def projector(self) -> ParallelBeamProjector:
        """Projector of the current phantom's attenuation (cached per rounded pressure)."""
        return _projector(self.params, self._rounded_pressure(), self.seed)

    def _rounded_pressure(self) -> float:
        return round(self._model_pressure_MPa / PRESSURE_RESOLUTION_MPA) * PRESSURE_RESOLUTION_MPA


@lru_cache(maxsize=4)
def _phantom(params: CellParameters, pressure_MPa: float, seed: int) -> Phantom:
    # The same seed at every pressure: the same particles, compacted differently.
    return make_phantom(
        microstructure_at(pressure_MPa, params),
        phantom_imaging(params.imaging),
        np.random.default_rng(seed),
    )


@lru_cache(maxsize=2)
def _projector(params: CellParameters, pressure_MPa: float, seed: int) -> ParallelBeamProjector:
    imaging = params.imaging
    return ParallelBeamProjector(
        attenuation_volume(_phantom(params, pressure_MPa, seed), imaging),
        frame_shape=(
            imaging.electrode_slices + imaging.electrolyte_slices,
            imaging.diameter_voxels,
        ),
    )
