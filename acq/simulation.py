"""Start and stop the simulated IOCs of a station config, in a child process.

The IOCs serve real Channel Access on loopback; everything else (devices, plans, the
RunEngine) talks to them exactly as to hardware.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulated_devices.physics.parameters import CellParameters
from simulated_devices.loopback import LOOPBACK_ENVIRONMENT

from .child_process import log_tail, stop_process
from .config import StationConfig

#: Wall seconds to wait for the IOCs to answer.
STARTUP_TIMEOUT_S = 60.0


def configure_channel_access(server_port: int | None = None) -> None:
    """Point this process's Channel Access at loopback (before pyepics is first used).

    Parameters
    ----------
    server_port
        CA server port to use instead of 5064 (a repeater on ``server_port + 1``), so that
        several simulated stations — or a test run next to a demo — do not answer each other.
    """
    for key, value in LOOPBACK_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    if server_port is not None:
        os.environ.update(channel_access_ports(server_port))


def channel_access_ports(server_port: int) -> dict[str, str]:
    """Environment variables that put Channel Access clients and servers on ``server_port``
    (repeater and beacons on ``server_port + 1``)."""
    return {"EPICS_CA_SERVER_PORT": str(server_port), "EPICS_CAS_SERVER_PORT": str(server_port),
            "EPICS_CA_REPEATER_PORT": str(server_port + 1),
            "EPICS_CAS_BEACON_PORT": str(server_port + 1)}


def simulation_parameters(config: StationConfig) -> CellParameters:
    """The simulated cell of a config: its ``[cell]`` geometry plus ``[simulation]`` overrides."""
    if config.simulation is None:
        raise ValueError("this station config has no [simulation] table: it drives hardware")
    tables = {group: dict(values) for group, values in config.simulation.parameters.items()}
    geometry = tables.setdefault("geometry", {})
    for key in ("diameter_mm", "electrode_mass_mg", "electrolyte_mass_mg",
                "active_mass_fraction", "electrolyte_solid_density_g_cm3"):
        geometry.setdefault(key, getattr(config.cell, key))
    chemistry = tables.setdefault("electrochemistry", {})
    chemistry.setdefault("cell_type", config.cell.cell_type)
    chemistry.setdefault("specific_capacity_mAh_g", config.cell.specific_capacity_mAh_g)
    return CellParameters.from_mapping(tables)


class SimulatedStationProcess:
    """The simulated IOCs of ``config`` running in a child process (a context manager).

    Parameters
    ----------
    config
        Station config with a ``[simulation]`` table.
    log_path
        File for the IOC's output; a temporary file when omitted.
    """

    def __init__(self, config: StationConfig, log_path: Path | None = None) -> None:
        self.config = config
        self.parameters = simulation_parameters(config)
        self._workdir = Path(tempfile.mkdtemp(prefix="ssb-sim-"))
        self.log_path = log_path or self._workdir / "ioc.log"
        self._process: subprocess.Popen | None = None
        self._repeater: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The command line that starts the IOCs."""
        parameters_file = self._workdir / "parameters.json"
        parameters_file.write_text(json.dumps(self.parameters.as_dict()))
        c = self.config
        return [
            sys.executable, "-m", "simulated_devices",
            "--prefix", c.station.prefix,
            "--data-dir", str(c.frames_dir),
            "--time-scale", repr(c.station.time_scale),
            "--seed", str(c.simulation.seed),
            "--parameters", str(parameters_file),
            "--rating-MPa", repr(c.press.rating_MPa),
            "--load-cell-range-N", repr(c.press.load_cell_range_N),
            "--compliance-current-A", repr(c.potentiostat.compliance_current_A),
            "--compliance-voltage-V", repr(c.potentiostat.compliance_voltage_V),
        ]

    def start(self) -> None:
        """Start the IOCs and wait until their PVs answer.

        Raises
        ------
        RuntimeError
            If the process exits or the PVs do not answer within `STARTUP_TIMEOUT_S`,
            with the tail of the IOC log.
        """
        configure_channel_access()
        self.config.frames_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "w")
        repeater = shutil.which("caproto-repeater") or str(
            Path(sys.executable).with_name("caproto-repeater"))
        if Path(repeater).exists():
            self._repeater = subprocess.Popen([repeater, "--quiet"], env=env, stdout=log,
                                              stderr=subprocess.STDOUT)
            # libca registers with the repeater at its first use and, finding none, tries to
            # spawn EPICS's own caRepeater (not installed) and complains; let ours bind first.
            _wait_until_bound(int(os.environ.get("EPICS_CA_REPEATER_PORT", "5065")))
        self._process = subprocess.Popen(self.command(), env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        # Probed with caproto's own client, not pyepics: this process then never becomes a
        # libca client, which would register with the repeater, complain when it is not
        # polled, and report a "virtual circuit disconnect" when the IOCs stop.
        from caproto.sync.client import read

        probe = f"{self.config.station.prefix}{self.config.press.prefix}Rating"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"simulated IOCs exited with code {self._process.returncode}"
                                   f":\n{self.log_tail()}")
            try:
                if read(probe, timeout=1.0, repeater=False).data[0] > 0:
                    return
            except (TimeoutError, OSError):
                pass  # not serving yet
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"simulated IOCs did not answer {probe} within "
                           f"{STARTUP_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the IOC log."""
        return log_tail(self.log_path, lines)

    def stop(self) -> None:
        """Stop the IOCs (and the repeater this object started)."""
        stop_process(self._process)
        stop_process(self._repeater)
        self._process = self._repeater = None

    def __enter__(self) -> SimulatedStationProcess:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _wait_until_bound(udp_port: int, timeout_s: float = 5.0) -> None:
    """Return once something listens on loopback ``udp_port`` (or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", udp_port))
            except OSError:
                return
        time.sleep(0.05)
