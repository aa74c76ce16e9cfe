"""A simulated station whose IOCs play a recorded run back, and a Channel Access port of its own.

`PlaybackStationProcess` runs the same IOCs as `acq.simulation.SimulatedStationProcess`, with
`simulated_devices.playback.PlaybackCell` in place of the physics: devices, plans and the
RunEngine talk to them over real Channel Access exactly as to the physics or to hardware.
"""

from __future__ import annotations

import os
import random
import socket
import sys
from pathlib import Path

from simulated_devices.loopback import LOOPBACK_ENVIRONMENT

from .config import StationConfig
from .simulation import SimulatedStationProcess, channel_access_ports

#: Range the Channel Access port of a playback station is drawn from (even ports; the
#: repeater and beacons take the next one).
CA_PORT_RANGE = (40000, 60000)


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
        File for the IOC's output; a temporary file when omitted.
    """

    def __init__(self, config: StationConfig, recording_path: Path,
                 log_path: Path | None = None) -> None:
        super().__init__(config, log_path)
        self.recording_path = Path(recording_path)

    def command(self) -> list[str]:
        """The command line that starts the playback IOCs: the station's own options after
        ``python -m simulated_devices.playback --recording FILE``."""
        station_options = super().command()[3:]  # after: python -m simulated_devices
        return [sys.executable, "-m", "simulated_devices.playback",
                "--recording", str(self.recording_path), *station_options]


def channel_access_environment(port: int) -> dict[str, str]:
    """This process's environment with Channel Access on loopback ``port`` (repeater and
    beacons on ``port + 1``), for a child process that serves and uses a station there."""
    return {**LOOPBACK_ENVIRONMENT, **os.environ, **channel_access_ports(port)}


def free_ca_port(attempts: int = 100) -> int:
    """An even port P such that UDP P and P + 1 and TCP P are free on loopback, so a Channel
    Access server on P (repeater and beacons on P + 1) answers no other station's clients.

    Raises
    ------
    RuntimeError
        If none is found in ``attempts`` tries.
    """
    for _ in range(attempts):
        port = random.randrange(*CA_PORT_RANGE, 2)
        if all(_bindable(kind, number) for kind, number in (
                (socket.SOCK_DGRAM, port), (socket.SOCK_DGRAM, port + 1),
                (socket.SOCK_STREAM, port))):
            return port
    raise RuntimeError(f"no free Channel Access port in {CA_PORT_RANGE} after {attempts} tries")


def _bindable(kind: int, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
