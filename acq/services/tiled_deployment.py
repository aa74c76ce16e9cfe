"""A facility's Tiled: ``acq tiled serve``, several Tiled servers behind HAProxy.

What a config's ``[tiled.deployment]`` names (README, "Scaling"):

- PostgreSQL holds the catalog and the tables (one database per deployment, created if
  missing, its catalog initialised once by `acq.services.postgresql.prepare_database`);
- the disk holds the arrays (zarr under ``<data_dir>/tiled_deployment/files``), and the
  servers read the detector's frames where the IOC wrote them;
- ``servers`` processes of Tiled's own ``tiled serve config`` (each on a loopback port of its
  own, its log beside the config) serve the same catalog;
- HAProxy, on ``127.0.0.1:<port>``, spreads requests over them, checks each server's health
  every 2 s, and sends a request whose connection a dead server refused to another.

Why HAProxy and not uvicorn's or gunicorn's workers: ``tiled serve config`` hands uvicorn an
app object, so it cannot fork workers (uvicorn needs an import string for that); uvicorn's
``--factory tiled.server.app:app_factory --workers N`` could, but its workers share one socket
and are not addressable, restarted or logged one by one, and gunicorn is a dependency more.
With separate processes the station's `acq.services.supervisor.Supervisor` restarts a dead
server alone on its port while HAProxy routes around it, each has its log, and HAProxy
(Debian's ``haproxy`` package) is what a facility puts in front of its Tiled containers.
HAProxy retries only a request that never reached a server (``retry-on conn-failure``): a
write a server may have applied before dying is not sent twice.

The API key follows the embedded server's rule (`acq.services.tiled_server`): made once, kept
in ``<data_dir>/tiled_deployment/api_key`` (owner only), given to each server in its
environment, never on a command line. Every listener is on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import yaml

from ..config import ConfigError, StationConfig
from ..config.station_config import DeploymentSection
from ..runtime.tiled_client import kept_secret
from .child import (
    ChildService,
    ServiceError,
    ignore_stop_signals,
    interrupt_on_stop_signals,
    serve_until_interrupted,
)
from .ports import free_tcp_port, tcp_port_free
from .postgresql import database_uri, prepare_database
from .supervisor import Supervisor
from .tiled_server import BLUESKY_MEDIA_TYPES, tiled_answers, tiled_serve_command

#: Each server's connection pools (catalog and tables): base size and overflow. Tiled's
#: defaults (5 + 10 each) would let four servers open 120 connections, past PostgreSQL's
#: default limit of 100.
CATALOG_POOL = (5, 5)
STORAGE_POOL = (2, 2)
#: Connections one server may open at most.
CONNECTIONS_PER_SERVER = sum(CATALOG_POOL) + sum(STORAGE_POOL)
#: Folder of ``data_dir`` the deployment keeps its files in.
DEPLOYMENT_DIRNAME = "tiled_deployment"


def deployment_directory(data_dir: Path) -> Path:
    """Where a deployment served from ``data_dir`` keeps its arrays, configs, logs and key."""
    return Path(data_dir).resolve() / DEPLOYMENT_DIRNAME


class DeploymentServer(ChildService):
    """One ``tiled serve config`` of the deployment, on its own loopback port.

    Parameters
    ----------
    index
        Its number in the deployment (1, 2, …), in its name and log.
    config_path
        The Tiled server config all the deployment's servers share.
    api_key
        The single-user API key (given in the environment).
    port
        TCP port on 127.0.0.1.
    """

    restart_note = "same port; HAProxy sends it requests again once it answers"

    def __init__(self, index: int, config_path: Path, api_key: str, port: int) -> None:
        super().__init__(
            f"Tiled server {index}", config_path.with_name(f"server-{index}.log"), fresh_log=False
        )
        self.config_path, self.api_key, self.port = config_path, api_key, port

    @property
    def uri(self) -> str:
        """The server's own URL (bypassing the load balancer)."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """``tiled serve config`` on loopback; ``--scalable`` has Tiled check the config fits
        a multi-process deployment (a key set, no in-memory state)."""
        return tiled_serve_command(self.config_path, self.port, "--scalable")

    def start(self) -> None:
        """Start the server and return once it answers.

        Raises
        ------
        ServiceError
            If its port is taken, or it exits or does not answer (with its log).
        """
        if not tcp_port_free(self.port):
            raise ServiceError(f"{self.name}: 127.0.0.1:{self.port} is in use")
        # The key in the environment, not on the command line (any local user reads ps).
        self.launch(self.command(), {**os.environ, "TILED_SINGLE_USER_API_KEY": self.api_key})
        self.wait_until(lambda: tiled_answers(self.uri))


def haproxy_program() -> str:
    """The ``haproxy`` executable (Debian installs it in /usr/sbin).

    Raises
    ------
    ServiceError
        If HAProxy is not installed.
    """
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ServiceError("HAProxy is not installed: apt-get install haproxy")
    return found


class LoadBalancer(ChildService):
    """HAProxy in front of the deployment's servers, on ``127.0.0.1:port``.

    Parameters
    ----------
    directory
        Where its config and log go.
    port
        Its TCP port on 127.0.0.1.
    server_ports
        The servers' loopback ports.
    """

    restart_note = "same port and servers"

    def __init__(self, directory: Path, port: int, server_ports: Sequence[int]) -> None:
        super().__init__("HAProxy", directory / "haproxy.log", fresh_log=False)
        self.config_path = directory / "haproxy.cfg"
        self.port, self.server_ports = port, list(server_ports)

    @property
    def uri(self) -> str:
        """The deployment's URL."""
        return f"http://127.0.0.1:{self.port}"

    def haproxy_config(self) -> str:
        """HAProxy's configuration: HTTP on loopback, least-connections over the servers,
        each checked every 2 s on Tiled's API root (down after 2 failures, up after 1)."""
        servers = "\n".join(
            f"    server tiled-{index} 127.0.0.1:{port} check inter 2s fall 2 rise 1"
            for index, port in enumerate(self.server_ports, start=1)
        )
        return f"""# Written by `acq tiled serve` (acq/services/tiled_deployment.py) each start.
global
    maxconn 1024

defaults
    mode http
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    # A request whose connection a dead server refused goes to another; one a server may
    # have received is never sent twice (it could be a write already applied).
    option redispatch
    retries 3
    retry-on conn-failure

frontend tiled
    bind 127.0.0.1:{self.port}
    default_backend tiled_servers

backend tiled_servers
    balance leastconn
    option httpchk
    http-check send meth GET uri /api/v1/ ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
{servers}
"""

    def start(self) -> None:
        """Start HAProxy (in the foreground) and return once it answers through a server.

        Raises
        ------
        ServiceError
            If HAProxy is missing, its port is taken, or it exits or does not answer.
        """
        program = haproxy_program()
        if not tcp_port_free(self.port):
            raise ServiceError(port_in_use(self.port))
        self.config_path.write_text(self.haproxy_config())
        self.launch([program, "-db", "-f", str(self.config_path)])
        self.wait_until(lambda: tiled_answers(self.uri))


def port_in_use(port: int) -> str:
    """The one line for a deployment port that another process holds."""
    return (
        f"cannot serve the Tiled deployment on 127.0.0.1:{port}: the port is in use "
        f"(another `acq tiled serve`?); set [tiled.deployment] port in the station config"
    )


class TiledDeployment:
    """The deployment a station config's ``[tiled.deployment]`` names.

    Parameters
    ----------
    config
        A station config with a ``[tiled.deployment]`` table: its ``data_dir`` holds the
        arrays, and its frames directory is readable by the servers.

    Raises
    ------
    ConfigError
        If the config has no ``[tiled.deployment]``.
    """

    def __init__(self, config: StationConfig) -> None:
        if config.tiled.deployment is None:
            raise ConfigError("the station config has no [tiled.deployment] table to serve")
        self.settings: DeploymentSection = config.tiled.deployment
        self.directory = deployment_directory(config.station.data_dir)
        self.readable_dirs = [
            config.frames_dir,
            *(Path(path).resolve() for path in self.settings.readable_dirs),
        ]
        self.key_path = self.directory / "api_key"
        self.config_path = self.directory / "config.yml"
        self.servers: list[DeploymentServer] = []
        self.balancer: LoadBalancer | None = None

    @property
    def uri(self) -> str:
        """The deployment's URL (HAProxy's)."""
        return f"http://127.0.0.1:{self.settings.port}"

    def server_config(self) -> dict:
        """The Tiled server config its servers share, as ``tiled serve config`` reads it."""
        settings = self.settings
        return {
            "catalog": {
                "uri": database_uri(settings.postgresql, settings.database, "asyncpg"),
                "writable_storage": [
                    str(self.directory / "files"),  # arrays, as zarr
                    database_uri(settings.postgresql, settings.database),  # tables
                ],
                "readable_storage": [str(path) for path in self.readable_dirs],
                # `acq tiled serve` ran `tiled catalog init` once, before any server.
                "init_if_not_exists": False,
                "catalog_pool_size": CATALOG_POOL[0],
                "catalog_max_overflow": CATALOG_POOL[1],
                "storage_pool_size": STORAGE_POOL[0],
                "storage_max_overflow": STORAGE_POOL[1],
            },
            "media_types": BLUESKY_MEDIA_TYPES,
        }

    def start(self, stack: ExitStack) -> list[ChildService]:
        """Prepare the database, start the servers (at once) and HAProxy; each stops when
        ``stack`` closes. Returns the services, for a supervisor.

        Raises
        ------
        ServiceError
            In one line when the port is taken, HAProxy is missing or PostgreSQL cannot be
            used; with a server's log when one does not start.
        """
        settings = self.settings
        if not tcp_port_free(settings.port):
            raise ServiceError(port_in_use(settings.port))
        haproxy_program()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.directory / "files").mkdir(exist_ok=True)
        for directory in self.readable_dirs:
            directory.mkdir(parents=True, exist_ok=True)
        prepared = prepare_database(
            settings.postgresql,
            settings.database,
            settings.servers * CONNECTIONS_PER_SERVER,
            self.directory / "catalog_init.log",
        )
        print(
            f"PostgreSQL database {settings.database}: "
            f"{'created' if prepared.created else 'exists'}; catalog "
            f"{'initialised' if prepared.initialised else 'already initialised'}",
            flush=True,
        )
        self.config_path.write_text(
            "# Written by `acq tiled serve` (acq/services/tiled_deployment.py) at every start:\n"
            "# the config each of the deployment's `tiled serve config` processes reads.\n"
            + yaml.safe_dump(self.server_config(), sort_keys=False)
        )
        api_key = kept_secret(self.key_path, 16)
        self.servers = [
            DeploymentServer(index, self.config_path, api_key, free_tcp_port())
            for index in range(1, settings.servers + 1)
        ]
        for server in self.servers:
            stack.callback(server.stop)
        # Started side by side: each takes seconds to import Tiled.
        with ThreadPoolExecutor(len(self.servers)) as pool:
            for started in [pool.submit(server.start) for server in self.servers]:
                started.result()
        self.balancer = LoadBalancer(
            self.directory, settings.port, [server.port for server in self.servers]
        )
        stack.enter_context(self.balancer)
        return [*self.servers, self.balancer]


def serve_deployment(config: StationConfig) -> int:
    """``acq tiled serve``: the config's deployment, supervised, until Ctrl-C or SIGTERM."""
    deployment = TiledDeployment(config)
    interrupt_on_stop_signals()  # a SIGTERM while the servers start stops them too
    with ExitStack() as stack:
        services = deployment.start(stack)
        supervisor = stack.enter_context(Supervisor(services))
        stack.callback(ignore_stop_signals)  # runs first: the services then stop in order
        settings = deployment.settings
        print(
            f"Tiled deployment at {deployment.uri}: {settings.servers} Tiled servers behind "
            f"HAProxy (ports {', '.join(str(server.port) for server in deployment.servers)}); "
            f"catalog and tables in PostgreSQL database {settings.database}, arrays under "
            f"{deployment.directory / 'files'}; API key in {deployment.key_path}; one that "
            f"exits is restarted (up to {supervisor.max_restarts} times within "
            f"{supervisor.window_s:.0f} s)",
            flush=True,
        )
        print("Ctrl-C stops", flush=True)
        serve_until_interrupted()
    return 0
