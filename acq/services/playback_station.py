"""A simulated station whose IOCs play a recorded run back.

`PlaybackStationProcess` runs the same IOCs as `SimulatedStationProcess`, with
`simulated_devices.playback.PlaybackCell` in place of the physics: devices, plans and the
RunEngine talk to them over real Channel Access exactly as to the physics or to hardware.
"""

from __future__ import annotations

from pathlib import Path

from ..config import StationConfig
from .simulated_station import SimulatedStationProcess


class PlaybackStationProcess(SimulatedStationProcess):
    """The IOCs of ``config`` serving the readings of a recording (a context manager).

    Parameters
    ----------
    config
        Station config with a ``[simulation]`` table (PV prefix, limits, time scale, frames
        directory, cell parameters).
    recording_path
        HDF5 file written by `simulated_devices.recording.Recording.save`.
    log_path
        File for the IOCs' output.
    """

    module = "simulated_devices.playback"

    def __init__(self, config: StationConfig, recording_path: Path, log_path: Path) -> None:
        super().__init__(config, log_path, name="playback IOCs")
        self.recording_path = Path(recording_path)

    def command(self) -> list[str]:
        """The station's IOC command line, playing ``recording_path`` back."""
        return [*super().command(), "--recording", str(self.recording_path)]
