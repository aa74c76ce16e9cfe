"""Station configuration: one TOML file names the PVs, the cell, the limits and the services.

The same file builds the IPython session, the queue-server worker, the command line and —
when it has a ``[simulation]`` table — the simulated IOCs. Validation happens once, on load,
with errors that name the offending key and file.

Example (the default, ``acq/config/stations/default.toml``)::

    [station]
    name = "ssb-sim"
    prefix = "SIM:"
    data_dir = "data"
    ca_server_port = 5064
    ca_repeater_port = 5065

    [sample]
    id = "NCM111-LGPS-demo"

    [cell]
    diameter_mm = 1.0
    ...
"""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from conventions.cell_geometry import (
    active_mass_g,
    disc_area_cm2,
    layer_mass_mg,
    max_pressure_MPa,
)
from conventions.impedance import DEFAULT_CIRCUIT

#: The configs this package ships: the default station and other cells on the same one (a
#: finer sulfide composite, a garnet symmetric pellet with and without its interlayer, a
#: limited-lithium LFP full cell).
STATIONS_DIR = Path(__file__).with_name("stations")
DEFAULT_CONFIG_PATH = STATIONS_DIR / "default.toml"
SHIPPED_CONFIGS = (
    DEFAULT_CONFIG_PATH,
    STATIONS_DIR / "fine_particle.toml",
    STATIONS_DIR / "garnet_symmetric.toml",
    STATIONS_DIR / "garnet_pristine.toml",
    STATIONS_DIR / "lfp_limited_lithium.toml",
)


class ConfigError(ValueError):
    """A station config that cannot be used, with every problem listed."""


#: Upper bounds on what a config may ask of an instrument or a wait: beyond them a value is
#: a typo, and a wait that long would hang a plan for good.
MAX_TIME_SCALE = 1e7
MAX_WAIT_S = 86400.0
#: Fastest sample translation (mm/s) and rotation (deg/s) a tomography stage is asked for.
MAX_SAMPLE_SPEED_MM_S = 100.0
MAX_ROTATION_SPEED_DEG_S = 720.0


def _inside(path: Path) -> Path:
    """A path relative to ``station.data_dir`` that stays inside it."""
    if path.is_absolute() or ".." in PurePosixPath(path.as_posix()).parts:
        raise ValueError("must be a path inside station.data_dir (relative, no '..')")
    return path


def _http_uri(uri: str) -> str:
    """Empty (the embedded server) or an http(s) URI with a host."""
    parts = urlsplit(uri)
    if uri and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueError(f"must be an http:// or https:// URI with a host, not {uri!r}")
    return uri


#: A PV prefix: EPICS record-name characters only, not empty.
PVPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9_:.\-]+$")]
#: A TCP port a server listens on (0 is not one).
Port = Annotated[int, Field(gt=0, le=65535)]


class _Table(BaseModel):
    # Every number finite: inf and NaN are refused by name like any out-of-range value.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StationSection(_Table):
    """Identity of the station and where its data go."""

    name: str = "ssb-sim"
    #: PV prefix of the whole station; each instrument adds its own.
    prefix: PVPrefix = "SIM:"
    #: Root of everything written locally (detector frames, embedded Tiled, backups).
    data_dir: Path = Path("data")
    #: Experiment seconds per wall second of the instruments (1 for hardware).
    time_scale: float = Field(default=1.0, gt=0, le=MAX_TIME_SCALE)
    #: Channel Access server port (UDP searches, TCP circuits) of a simulated station: its
    #: IOCs serve on it and every client process of the station searches it, whatever the
    #: shell's ``EPICS_CA_SERVER_PORT`` (a hardware station keeps the site's environment).
    ca_server_port: Port = 5064
    #: Channel Access repeater port of a simulated station (its IOCs' beacons, its clients'
    #: registration); one repeater per host and port serves every station on it.
    ca_repeater_port: Port = 5065

    @model_validator(mode="after")
    def _ca_ports_differ(self) -> StationSection:
        if self.ca_server_port == self.ca_repeater_port:
            raise ValueError(
                f"ca_server_port and ca_repeater_port are both port {self.ca_server_port}"
            )
        return self


class SampleSection(_Table):
    """What is in the press."""

    id: str = Field(min_length=1)
    description: str = ""


class CellSection(_Table):
    """Geometry and make-up of the cell; recorded in every start document.

    A full cell names its composite cathode (``electrode_mass_mg``, ``active_mass_fraction``,
    ``specific_capacity_mAh_g``); a symmetric Li | SSE | Li cell has none and names none. The
    separator is a pressed powder layer (``electrolyte_mass_mg``: its thickness follows from
    the porosity the CT measures) or a sintered pellet (``electrolyte_thickness_um`` and
    ``electrolyte_relative_density`` given directly; its mass then follows).
    """

    diameter_mm: float = Field(gt=0, le=1000)
    electrode_mass_mg: float | None = Field(default=None, gt=0)
    active_mass_fraction: float | None = Field(default=None, gt=0, le=1)
    #: Specific capacity that defines 1C for this active material, mAh/g.
    specific_capacity_mAh_g: float | None = Field(default=None, gt=0)
    electrolyte_mass_mg: float | None = Field(default=None, gt=0)
    #: Solid (pore-free) density of the electrolyte, g/cm³: with its mass, the area and the
    #: CT porosity it gives the separator thickness the conductivity is computed over.
    electrolyte_solid_density_g_cm3: float = Field(default=2.0, gt=0, le=30)
    #: A sintered separator's thickness, µm, and density relative to the solid's (0–1].
    electrolyte_thickness_um: float | None = Field(default=None, gt=0, le=1e5)
    electrolyte_relative_density: float | None = Field(default=None, gt=0, le=1)
    active_material: str = "NCM111"
    electrolyte: str = "LGPS"
    anode: str = "In-Li"
    cell_type: str = Field(default="full", pattern="^(full|symmetric)$")

    @model_validator(mode="after")
    def _cell_described_once(self) -> CellSection:
        cathode = ("electrode_mass_mg", "active_mass_fraction", "specific_capacity_mAh_g")
        if self.cell_type == "full":
            missing = [key for key in cathode if getattr(self, key) is None]
            if missing:
                raise ValueError(f"a full cell needs its cathode: cell.{', cell.'.join(missing)}")
        else:
            given = [key for key in cathode if getattr(self, key) is not None]
            if given:
                raise ValueError(
                    f"a symmetric cell has no cathode: leave out cell.{', cell.'.join(given)}"
                )
        if (self.electrolyte_thickness_um is None) != (self.electrolyte_relative_density is None):
            raise ValueError(
                "a sintered separator needs both cell.electrolyte_thickness_um and "
                "cell.electrolyte_relative_density"
            )
        if self.electrolyte_mass_mg is None and not self.sintered:
            raise ValueError(
                "the separator needs cell.electrolyte_mass_mg (a pressed layer) or "
                "cell.electrolyte_thickness_um and cell.electrolyte_relative_density (sintered)"
            )
        if self.electrolyte_mass_mg is not None and self.sintered:
            raise ValueError(
                "cell.electrolyte_mass_mg and a sintered separator's thickness and density "
                "describe it twice: leave out cell.electrolyte_mass_mg"
            )
        return self

    @property
    def sintered(self) -> bool:
        """Whether the separator is a sintered pellet of given thickness and density."""
        return self.electrolyte_thickness_um is not None

    @property
    def area_cm2(self) -> float:
        """Electrode area, cm²."""
        return disc_area_cm2(self.diameter_mm)

    @property
    def active_mass_g(self) -> float:
        """Mass of active material, g (0 for a symmetric cell)."""
        if self.electrode_mass_mg is None or self.active_mass_fraction is None:
            return 0.0
        return active_mass_g(self.electrode_mass_mg, self.active_mass_fraction)

    @property
    def nominal_capacity_mAh(self) -> float:
        """Capacity that defines 1C, mAh (0 for a symmetric cell: no C-rate)."""
        return (self.specific_capacity_mAh_g or 0.0) * self.active_mass_g

    @property
    def separator_mass_mg(self) -> float:
        """Mass of the separator, mg (a sintered pellet's from its thickness and density)."""
        if self.electrolyte_mass_mg is not None:
            return self.electrolyte_mass_mg
        assert self.electrolyte_thickness_um is not None  # the validator's either-or
        assert self.electrolyte_relative_density is not None
        return layer_mass_mg(
            self.electrolyte_thickness_um,
            self.electrolyte_solid_density_g_cm3,
            1.0 - self.electrolyte_relative_density,
            self.area_cm2,
        )


class PressSection(_Table):
    """Stack-pressure cell (press + load cell + feedback)."""

    prefix: PVPrefix = "press:"
    rating_MPa: float = Field(gt=0, le=10000)
    load_cell_range_N: float = Field(gt=0, le=1e7)
    tolerance_MPa: float = Field(default=0.5, gt=0)
    dwell_s: float = Field(default=1.0, ge=0, le=MAX_WAIT_S)
    settle_timeout_s: float = Field(default=120.0, gt=0, le=MAX_WAIT_S)
    hold_band_MPa: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _tolerance_below_rating(self) -> PressSection:
        if self.tolerance_MPa >= self.rating_MPa:
            raise ValueError(
                f"tolerance_MPa {self.tolerance_MPa:g} must be below rating_MPa "
                f"{self.rating_MPa:g}"
            )
        if not self.tolerance_MPa <= self.hold_band_MPa < self.rating_MPa:
            raise ValueError(
                f"hold_band_MPa {self.hold_band_MPa:g} must be at least tolerance_MPa "
                f"{self.tolerance_MPa:g} (a settled stack would suspend the technique) and "
                f"below rating_MPa {self.rating_MPa:g}"
            )
        if self.dwell_s >= self.settle_timeout_s:
            raise ValueError(
                f"dwell_s {self.dwell_s:g} must be shorter than settle_timeout_s "
                f"{self.settle_timeout_s:g} (no move could ever settle)"
            )
        return self


class PotentiostatSection(_Table):
    """Potentiostat channel."""

    prefix: PVPrefix = "pstat:"
    compliance_current_A: float = Field(default=0.01, gt=0, le=100)
    compliance_voltage_V: float = Field(default=10.0, gt=0, le=1000)


class TomographySection(_Table):
    """Tomography stage and detector."""

    prefix: PVPrefix = "tomo:"
    #: Where the IOC writes frames, as the IOC sees it; inside ``station.data_dir``.
    frames_dir: Annotated[Path, AfterValidator(_inside)] = Path("frames")
    #: Sample translation that takes the sample out of the beam for flat fields, mm.
    sample_out_mm: float = 5.0
    #: Speed of the sample translation in and out of the beam, mm/s (its ``.VELO`` during a
    #: CT; a micro-tomography stage's, not the simulator's start-up default).
    sample_speed_mm_s: float = Field(default=10.0, gt=0, le=MAX_SAMPLE_SPEED_MM_S)
    #: Speed of the rotation between a CT's passes (to its start, back from its run-out),
    #: deg/s; a fly pass sets its own from the exposure.
    rotation_speed_deg_s: float = Field(default=90.0, gt=0, le=MAX_ROTATION_SPEED_DEG_S)
    #: The storage ring's current, a whole PV name (a facility's, e.g.
    #: ``SR:C03-BI{DCCT:1}I:Real-I``); empty: the tomography IOC's ``BeamCurrent_RBV``
    #: (what the simulated station serves).
    beam_current_pv: str = Field(default="", pattern=r"^\S*$")
    #: A CT waits, suspended, while the ring current is below this, mA (0: never).
    min_beam_current_mA: float = Field(default=10.0, ge=0, le=10000)
    #: Wall seconds the beam must be back before a suspended CT goes on.
    beam_resume_delay_s: float = Field(default=2.0, ge=0, le=MAX_WAIT_S)

    def beam_pv(self, station_prefix: str) -> str:
        """The ring current's PV name for a station whose PV prefix is ``station_prefix``."""
        return self.beam_current_pv or station_prefix + self.prefix + "BeamCurrent_RBV"


def _postgresql_server(uri: str) -> str:
    """A ``postgresql://user@host:port`` URI naming a server only: no database (the
    deployment's ``database`` names it) and no password (a command line or a config file
    would show it: libpq and asyncpg read ``PGPASSWORD`` or ``~/.pgpass``)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError(f"must be a postgresql://user@host:port URI, not {uri!r}")
    if parts.password is not None:
        raise ValueError("must hold no password: set PGPASSWORD or ~/.pgpass instead")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError("must name the server only (the database is tiled.deployment.database)")
    return uri


class DeploymentSection(_Table):
    """A facility's Tiled, served by ``acq tiled serve``: several Tiled server processes
    behind HAProxy on loopback, the catalog and the tables in one PostgreSQL database, the
    arrays on disk under ``data_dir/tiled_deployment`` (README, "Scaling")."""

    #: The PostgreSQL server (no database, no password).
    postgresql: Annotated[str, AfterValidator(_postgresql_server)] = (
        "postgresql://postgres@127.0.0.1:5432"
    )
    #: The deployment's database (created if missing): its catalog and its tables.
    database: str = Field(default="ssb_tiled", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: Tiled server processes behind the load balancer.
    servers: int = Field(default=4, ge=1, le=16)
    #: The load balancer's port on 127.0.0.1 (what stations name as ``[tiled] uri``).
    port: Port = 8020
    #: Directories of external files the servers may read besides this config's frames
    #: directory (other stations' detector frames).
    readable_dirs: list[Path] = Field(default_factory=list)


class TiledSection(_Table):
    """Where documents go. An empty ``uri`` means the embedded server under ``data_dir``."""

    uri: Annotated[str, AfterValidator(_http_uri)] = ""
    #: API key of a remote server (for the embedded one, kept in ``data_dir/tiled/api_key``).
    api_key: str = ""
    #: A file holding the remote server's API key (readable by its owner only), such as a
    #: deployment's ``data_dir/tiled_deployment/api_key``; without either, the key is taken
    #: from ``$TILED_API_KEY``.
    api_key_file: Path | None = None
    #: Port of the embedded server on loopback (0: any free port).
    port: int = Field(default=8010, ge=0, le=65535)
    #: The deployment ``acq tiled serve`` runs from this config (none: no deployment).
    deployment: DeploymentSection | None = None

    @model_validator(mode="after")
    def _one_key(self) -> TiledSection:
        if self.api_key and self.api_key_file is not None:
            raise ValueError("api_key and api_key_file both give the key: keep one")
        return self


class AnalysisSection(_Table):
    """Live analysis: the circuit spectra are fitted to, and the document stream that feeds
    the analysis worker: a `bluesky-0MQ-proxy` on loopback between two ports (the default),
    or a NATS JetStream server that keeps the documents (``broker_url``;
    `acq.runtime.document_broker`)."""

    circuit: str = Field(default=DEFAULT_CIRCUIT, min_length=1)
    zmq_in_port: Port = 5577
    zmq_out_port: Port = 5578
    #: ``nats://host:port`` of a NATS server with JetStream; empty: the 0MQ proxy.
    broker_url: str = Field(default="", pattern=r"^(|nats://[A-Za-z0-9_.\-]+:[0-9]{1,5})$")
    #: Wall seconds a worker that stopped reporting keeps a run before it goes to another.
    broker_ack_wait_s: float = Field(default=30.0, ge=1.0, le=3600.0)
    #: Runs one worker analyses at the same time.
    broker_runs_at_once: int = Field(default=4, ge=1, le=64)


class QueueSection(_Table):
    """Where ``acq queue``'s RE Manager keeps its queue and history, and where its parts
    listen (``acq queue``'s options override the ports)."""

    #: ``host:port`` of a Redis the site runs; empty: ``acq queue`` runs its own, on
    #: loopback with append-only persistence under ``data_dir/queue/redis``.
    redis_addr: str = Field(default="", pattern=r"^(|[A-Za-z0-9_.\-]+:[0-9]{1,5})$")
    #: Port of its own Redis on 127.0.0.1.
    redis_port: Port = 60635
    #: The RE Manager's 0MQ control port (``qserver -a``, `REManagerAPI` over 0MQ) and its
    #: console-output port, on 127.0.0.1: a second station on the machine takes its own.
    zmq_control_port: Port = 60615
    zmq_info_port: Port = 60625
    #: Port of bluesky-httpserver (the queue's HTTP API).
    http_port: Port = 60610


class SimulationSection(_Table):
    """Present for a simulated station: the IOCs are started from this config.

    Its ``parameters`` are checked against the physics when the IOCs are set up
    (`acq.services.simulation_parameters`), not here: loading a config needs nothing of the
    simulator, so a hardware station never imports it.
    """

    seed: int = 0
    #: Overrides of `simulated_devices.physics.parameters.CellParameters`, by group.
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Channel Access clients that may write to the IOCs, ``"user@host"`` (fnmatch patterns;
    #: ``localhost`` checked on the connection); empty: the user running them, this machine.
    ca_writers: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        default_factory=list
    )


class StationConfig(_Table):
    """A whole station: validated on construction."""

    station: StationSection = StationSection()
    sample: SampleSection
    cell: CellSection
    press: PressSection
    potentiostat: PotentiostatSection = PotentiostatSection()
    tomography: TomographySection = TomographySection()
    tiled: TiledSection = TiledSection()
    analysis: AnalysisSection = AnalysisSection()
    queue: QueueSection = QueueSection()
    simulation: SimulationSection | None = None

    @model_validator(mode="after")
    def _ports_distinct(self) -> StationConfig:
        ports = {
            "station.ca_server_port": self.station.ca_server_port,
            "analysis.zmq_in_port": self.analysis.zmq_in_port,
            "analysis.zmq_out_port": self.analysis.zmq_out_port,
        }
        if not self.tiled.uri and self.tiled.port:
            ports["tiled.port"] = self.tiled.port
        if self.tiled.deployment is not None:
            ports["tiled.deployment.port"] = self.tiled.deployment.port
        if not self.queue.redis_addr:
            ports["queue.redis_port"] = self.queue.redis_port
        ports["queue.zmq_control_port"] = self.queue.zmq_control_port
        ports["queue.zmq_info_port"] = self.queue.zmq_info_port
        ports["queue.http_port"] = self.queue.http_port
        taken: dict[int, str] = {}
        for key, port in ports.items():
            if port in taken:
                raise ValueError(f"{key} and {taken[port]} are both port {port}")
            taken[port] = key
        return self

    @property
    def max_pressure_MPa(self) -> float:
        """The highest stack pressure the press accepts (the IOC's setpoint control limit):
        the lower of the cell rating and the load-cell range over the disc area, MPa."""
        return max_pressure_MPa(
            self.press.rating_MPa, self.press.load_cell_range_N, self.cell.diameter_mm
        )

    @property
    def frames_dir(self) -> Path:
        """Absolute directory the detector writes to."""
        return (self.station.data_dir / self.tomography.frames_dir).resolve()

    def metadata(self) -> dict[str, Any]:
        """What every start document carries about the station, sample and cell."""
        return {
            "station": self.station.name,
            "sample": self.sample.id,
            "sample_description": self.sample.description,
            "cell": {
                **self.cell.model_dump(),
                "area_cm2": self.cell.area_cm2,
                "active_mass_g": self.cell.active_mass_g,
                "nominal_capacity_mAh": self.cell.nominal_capacity_mAh,
            },
            "simulated": self.simulation is not None,
        }


def load_config(path: Path | str | None = None) -> StationConfig:
    """Read and validate a station config.

    Parameters
    ----------
    path
        TOML file; the packaged default station when omitted. Relative ``data_dir`` paths are
        taken relative to the current directory.

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, or any key is unknown, missing or out of range;
        the message lists every problem with its dotted key.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"station config {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"station config {path} is not valid TOML: {error}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, Any], source: str = "<config>") -> StationConfig:
    """Validate a config already parsed into nested dicts (see `load_config`)."""
    try:
        return StationConfig.model_validate(raw)
    except ValidationError as error:
        # A check across sections has no location: its message names the keys.
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            if problem["loc"]
            else f"  {problem['msg']}"
            for problem in error.errors()
        )
        raise ConfigError(f"station config {source} is invalid:\n{problems}") from None
