"""The simulated IOCs of a station config, in a child process.

The IOCs serve real Channel Access on loopback; everything else (devices, plans, the
RunEngine) talks to them exactly as to hardware.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import CellSection, ConfigError, StationConfig
from ..runtime.channel_access import loopback_environment
from .child import ChildService, stop_process
from .ports import channel_access_answers, udp_port_free, wait_until_udp_bound

if TYPE_CHECKING:  # the physics is imported only when a simulated station is set up
    from simulated_devices.physics.parameters import CellParameters

#: Parameters only ``[cell]`` may give (the simulator and the analysis read the same cell).
CELL_ONLY = {
    "geometry": (
        "diameter_mm",
        "electrode_mass_mg",
        "active_mass_fraction",
        "electrolyte_mass_mg",
        "electrolyte_solid_density_g_cm3",
        "electrolyte_thickness_um",
        "electrolyte_relative_density",
    ),
    "electrochemistry": ("cell_type", "specific_capacity_mAh_g"),
}


def cell_values(cell: CellSection) -> dict[str, dict[str, Any]]:
    """What ``[cell]`` says of the simulated cell, by parameter group (a symmetric cell's
    cathode mass is 0; a sintered separator's thickness and density are given)."""
    geometry: dict[str, Any] = {
        "diameter_mm": cell.diameter_mm,
        "electrode_mass_mg": cell.electrode_mass_mg or 0.0,
        "electrolyte_mass_mg": cell.separator_mass_mg,
        "electrolyte_solid_density_g_cm3": cell.electrolyte_solid_density_g_cm3,
    }
    if cell.active_mass_fraction is not None:
        geometry["active_mass_fraction"] = cell.active_mass_fraction
    if cell.sintered:
        geometry["electrolyte_thickness_um"] = cell.electrolyte_thickness_um
        geometry["electrolyte_relative_density"] = cell.electrolyte_relative_density
    electrochemistry: dict[str, Any] = {"cell_type": cell.cell_type}
    if cell.specific_capacity_mAh_g is not None:
        electrochemistry["specific_capacity_mAh_g"] = cell.specific_capacity_mAh_g
    return {"geometry": geometry, "electrochemistry": electrochemistry}


def simulation_parameters(config: StationConfig) -> CellParameters:
    """The simulated cell of a config: its ``[cell]`` geometry plus ``[simulation]`` overrides.

    Raises
    ------
    ConfigError
        If the config has no ``[simulation]`` table, or a parameter there is unknown, of the
        wrong type, not physical (a negative conductivity, an efficiency above 1) or
        contradicts ``[cell]`` (naming its dotted key).
    """
    from simulated_devices.physics.parameters import CellParameters

    if config.simulation is None:
        raise ConfigError("this station config has no [simulation] table: it drives hardware")
    tables = {
        group: dict(values) if isinstance(values, dict) else values
        for group, values in config.simulation.parameters.items()
    }
    from_cell = cell_values(config.cell)
    for group, keys in CELL_ONLY.items():
        table = tables.setdefault(group, {})
        if not isinstance(table, dict):
            continue  # refused by name below
        for key in keys:
            if key not in from_cell[group] and key in table:
                raise ConfigError(
                    f"station config: simulation.parameters.{group}.{key} describes the cell, "
                    f"which [cell] does alone: give it there (cell.{key})"
                )
        for key, value in from_cell[group].items():
            given = table.setdefault(key, value)
            if given != value:
                raise ConfigError(
                    f"station config: simulation.parameters.{group}.{key} = {given!r} "
                    f"contradicts [cell] ({key} = {value!r}): [cell] describes the cell to both "
                    f"the simulator and the analysis; leave it out of [simulation]"
                )
    try:
        return CellParameters.from_mapping(tables)
    except ValueError as error:
        raise ConfigError(f"station config: {error}") from None


class SimulatedStationProcess(ChildService):
    """The simulated IOCs of ``config`` (and a Channel Access repeater) in child processes.

    Parameters
    ----------
    config
        Station config with a ``[simulation]`` table.
    log_path
        File for the IOCs' output; ``<data_dir>/services/ioc.log`` when omitted.
    name
        What they are, for messages.
    """

    #: The module the IOCs run as (``python -m``).
    module = "simulated_devices"
    restart_note = (
        "same PV prefix and Channel Access port; the simulated cell starts again from its "
        "initial state (press unloaded, setpoint 0 MPa, cell as assembled, simulated clock at 0)"
    )

    def __init__(
        self, config: StationConfig, log_path: Path | None = None, name: str = "simulated IOCs"
    ) -> None:
        services = config.station.data_dir.resolve() / "services"
        super().__init__(name, log_path or services / "ioc.log")
        self.config = config
        self.parameters = simulation_parameters(config)
        self.parameters_path = self.log_path.with_name(self.log_path.stem + "_parameters.json")
        #: Whether the first process is a repeater of this service's own (see `start`).
        self._own_repeater = False

    def command(self) -> list[str]:
        """The command line that starts the IOCs."""
        c = self.config
        assert c.simulation is not None  # checked by simulation_parameters
        return [
            sys.executable,
            "-m",
            self.module,
            "--prefix",
            c.station.prefix,
            "--data-dir",
            str(c.frames_dir),
            "--time-scale",
            repr(c.station.time_scale),
            "--seed",
            str(c.simulation.seed),
            "--parameters",
            str(self.parameters_path),
            "--rating-MPa",
            repr(c.press.rating_MPa),
            "--load-cell-range-N",
            repr(c.press.load_cell_range_N),
            "--compliance-current-A",
            repr(c.potentiostat.compliance_current_A),
            "--compliance-voltage-V",
            repr(c.potentiostat.compliance_voltage_V),
            *(arg for writer in c.simulation.ca_writers for arg in ("--ca-writer", writer)),
        ]

    def start(self) -> None:
        """Start the repeater and the IOCs; return once their PVs answer.

        Raises
        ------
        ServiceError
            If the IOCs exit or do not answer, with the tail of their log.
        """
        self.config.frames_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.parameters_path.write_text(json.dumps(self.parameters.as_dict()))
        # libca registers with the repeater at its first use and, finding none, tries to spawn
        # EPICS's own caRepeater (not installed) and complains; let ours bind first. Ours, not
        # caproto-repeater, which never confirms libca's registration
        # (`simulated_devices.repeater`).
        # One repeater per host and port, as EPICS's caRepeater: one already bound (another
        # station's on this machine) serves these clients too.
        port = self.config.station.ca_repeater_port
        self._own_repeater = udp_port_free(port)
        if self._own_repeater:
            self.launch(
                [sys.executable, "-m", "simulated_devices.repeater", "--port", str(port)],
                env=self.environment(),
            )
            wait_until_udp_bound(port)
        self._start_iocs()

    def restart(self) -> None:
        """Start the IOCs again; the repeater too only if it exited (clients registered with
        a running one keep receiving the IOCs' beacons, which tell them to reconnect).

        Raises
        ------
        ServiceError
            If the IOCs exit or do not answer, with the tail of their log.
        """
        repeater = self._processes[0] if self._own_repeater and self._processes else None
        if repeater is not None and repeater.poll() is not None:
            super().restart()
            return
        kept = [repeater] if repeater is not None else []
        for process in reversed(self._processes[len(kept) :]):
            stop_process(process)
        self._processes = kept
        self.mark_restart_in_log()
        self._start_iocs()

    def environment(self) -> dict[str, str]:
        """The environment of the IOCs and the repeater: this process's, with Channel Access
        on loopback and on the config's ports (whatever this process's own are)."""
        station = self.config.station
        return loopback_environment(station.ca_server_port, station.ca_repeater_port)

    def _start_iocs(self) -> None:
        self.launch(self.command(), env=self.environment())
        self.wait_until(self._serving)

    def _serving(self) -> bool:
        c = self.config
        return channel_access_answers(
            f"{c.station.prefix}{c.press.prefix}Rating", c.station.ca_server_port
        )
