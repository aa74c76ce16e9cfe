"""The station's queue server: RE Manager on Redis, with bluesky-httpserver in front of it.

`QueueServer` (a context manager) checks that Redis answers, writes the station config where
the startup module (`acq.queue_server.startup`) finds it, generates the list of existing plans
and devices with the queue server's own ``qserver-list-plans-devices``, starts
``start-re-manager`` with that list, the user-group permissions of this package, the Redis
address and key prefix and the 0MQ addresses, waits until it answers its status call, then
starts ``start-bluesky-httpserver`` with a single-user API key. `serve_queue` is ``acq
queue``: the station's services (for a simulated station: IOCs, embedded Tiled, analysis
worker) and the queue server until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..config import StationConfig
from ..runtime.tiled_client import TILED_API_KEY_VARIABLE, kept_secret
from ..services.child import ChildService, ServiceError, serve_until_interrupted
from . import CONFIG_VARIABLE, TILED_URI_VARIABLE

#: The RE Manager's startup module.
STARTUP_MODULE = "acq.queue_server.startup"
#: Who may run which plans on which devices.
PERMISSIONS_PATH = Path(__file__).with_name("user_group_permissions.yaml")
#: Environment variable bluesky-httpserver reads its single-user API key from.
API_KEY_VARIABLE = "QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY"
#: Wall seconds Redis gets to answer a ping.
REDIS_TIMEOUT_S = 2.0
#: Wall seconds each of the list generator, the RE Manager and the HTTP server gets to be ready.
STARTUP_TIMEOUT_S = 120.0
#: Only top-level devices are listed: plans take whole devices.
DEVICE_MAX_DEPTH = 1


class QueueServerError(RuntimeError):
    """Part of the queue server could not be started."""


@dataclass(frozen=True)
class QueueSettings:
    """Where the queue server's parts listen (the queue server's own defaults).

    Parameters
    ----------
    redis_addr
        Redis ``host:port``.
    redis_name_prefix
        Prefix of the RE Manager's Redis keys (one per station sharing a Redis).
    zmq_control_port, zmq_info_port
        TCP ports of the RE Manager's 0MQ control and console-output sockets, on 127.0.0.1.
    http_host, http_port
        Where bluesky-httpserver listens.
    """

    redis_addr: str = "127.0.0.1:6379"
    redis_name_prefix: str = "qs_default"
    zmq_control_port: int = 60615
    zmq_info_port: int = 60625
    http_host: str = "127.0.0.1"
    http_port: int = 60610

    @property
    def zmq_control_addr(self) -> str:
        """The RE Manager's 0MQ control address (what ``qserver`` and `REManagerAPI` use)."""
        return f"tcp://127.0.0.1:{self.zmq_control_port}"

    @property
    def zmq_info_addr(self) -> str:
        """The RE Manager's 0MQ console-output address."""
        return f"tcp://127.0.0.1:{self.zmq_info_port}"

    @property
    def http_uri(self) -> str:
        """The HTTP server's URL."""
        return f"http://{self.http_host}:{self.http_port}"


def check_redis(addr: str, timeout_s: float = REDIS_TIMEOUT_S) -> None:
    """Raise unless Redis at ``addr`` (``host:port``) answers a ping within ``timeout_s``.

    The RE Manager itself waits for Redis forever, so this runs before it is started. One
    attempt, no retries: an unreachable Redis is reported within ``timeout_s``.

    Raises
    ------
    QueueServerError
        Naming the address and the reason.
    """
    host, _, port = addr.rpartition(":")
    client = redis.Redis(
        host=host or "127.0.0.1",
        port=int(port),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    except redis.RedisError as error:
        raise QueueServerError(
            f"Redis at {addr} is not reachable ({error}); the queue server keeps its queue "
            f"there. Start it (redis-server --bind 127.0.0.1 --port {port}) or give its "
            f"address with --redis-addr"
        ) from None
    finally:
        client.close()


def http_api_key(data_dir: Path) -> str:
    """The HTTP server's single-user API key: ``$QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY``
    if set, else one made once and kept in ``<data_dir>/queue/api_key`` (owner only)."""
    if os.environ.get(API_KEY_VARIABLE):
        return os.environ[API_KEY_VARIABLE]
    return kept_secret(Path(data_dir).resolve() / "queue" / "api_key", 32)


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class QueueServer(ChildService):
    """RE Manager and HTTP server of a station (a context manager).

    Parameters
    ----------
    config
        The station config the startup module builds the station from.
    settings
        Redis and the ports.
    tiled_uri, tiled_api_key
        The Tiled server runs are written to.

    Files (the station config as the startup module reads it, the list of existing plans and
    devices, the log) go to ``<data_dir>/queue``.
    """

    def __init__(
        self,
        config: StationConfig,
        settings: QueueSettings,
        tiled_uri: str,
        tiled_api_key: str | None,
    ) -> None:
        self.directory = config.station.data_dir.resolve() / "queue"
        super().__init__("queue server", self.directory / "queue_server.log")
        self.config = config
        self.settings = settings
        self.tiled_uri, self.tiled_api_key = tiled_uri, tiled_api_key
        self.api_key = http_api_key(config.station.data_dir)
        self.plans_devices_path = self.directory / "existing_plans_and_devices.yaml"
        self.config_path = self.directory / "station_config.json"

    def environment(self) -> dict[str, str]:
        """Environment of the queue server's processes (station config, Tiled, API key)."""
        return {
            **os.environ,
            CONFIG_VARIABLE: str(self.config_path),
            TILED_URI_VARIABLE: self.tiled_uri,
            TILED_API_KEY_VARIABLE: self.tiled_api_key or "",
            "QSERVER_ZMQ_CONTROL_ADDRESS": self.settings.zmq_control_addr,
            "QSERVER_ZMQ_INFO_ADDRESS": self.settings.zmq_info_addr,
            API_KEY_VARIABLE: self.api_key,
        }

    def manager_command(self) -> list[str]:
        """The ``start-re-manager`` command line."""
        s = self.settings
        return [
            _script("start-re-manager"),
            "--startup-module",
            STARTUP_MODULE,
            "--existing-plans-devices",
            str(self.plans_devices_path),
            "--user-group-permissions",
            str(PERMISSIONS_PATH),
            "--redis-addr",
            s.redis_addr,
            "--redis-name-prefix",
            s.redis_name_prefix,
            "--zmq-control-addr",
            s.zmq_control_addr,
            "--zmq-info-addr",
            s.zmq_info_addr,
            "--zmq-publish-console",
            "ON",
            "--device-max-depth",
            str(DEVICE_MAX_DEPTH),
        ]

    def start(self) -> None:
        """Check Redis, list the plans and devices, start the RE Manager and the HTTP server.

        Raises
        ------
        QueueServerError
            If Redis does not answer or the plans and devices cannot be listed.
        ServiceError
            If the RE Manager or the HTTP server fails or does not answer in time.
        """
        check_redis(self.settings.redis_addr)
        self.directory.mkdir(parents=True, exist_ok=True)
        raw = self.config.model_dump(mode="json")
        raw["station"]["data_dir"] = str(self.config.station.data_dir.resolve())
        self.config_path.touch(mode=0o600)  # it may hold a remote Tiled's API key
        self.config_path.write_text(json.dumps(raw, indent=1))
        self._list_plans_and_devices()
        self.launch(self.manager_command(), self.environment())
        self.wait_until(self._manager_answers, STARTUP_TIMEOUT_S)
        self.launch(
            [
                _script("start-bluesky-httpserver"),
                "--host",
                self.settings.http_host,
                "--port",
                str(self.settings.http_port),
            ],
            self.environment(),
        )
        self.wait_until(self._http_answers, STARTUP_TIMEOUT_S)

    def _list_plans_and_devices(self) -> None:
        command = [
            _script("qserver-list-plans-devices"),
            "--startup-module",
            STARTUP_MODULE,
            "--file-dir",
            str(self.directory),
            "--file-name",
            self.plans_devices_path.name,
            "--device-max-depth",
            str(DEVICE_MAX_DEPTH),
        ]
        try:
            result = subprocess.run(
                command,
                env=self.environment(),
                capture_output=True,
                text=True,
                timeout=STARTUP_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise QueueServerError(
                f"listing the plans and devices took over {STARTUP_TIMEOUT_S:.0f} s"
            ) from None
        if result.returncode != 0 or not self.plans_devices_path.exists():
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise QueueServerError(
                f"could not list the station's plans and devices with {STARTUP_MODULE}:\n{output}"
            )

    def _manager_answers(self) -> bool:
        from bluesky_queueserver_api.zmq import REManagerAPI

        api = REManagerAPI(zmq_control_addr=self.settings.zmq_control_addr, timeout_recv=1.0)
        try:
            api.status()
            return True
        except Exception:  # not answering yet
            return False
        finally:
            api.close()

    def _http_answers(self) -> bool:
        try:
            httpx.get(
                f"{self.settings.http_uri}/api/status",
                timeout=1.0,
                headers={"Authorization": f"ApiKey {self.api_key}"},
            ).raise_for_status()
            return True
        except httpx.HTTPError:
            return False


def add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``acq queue``."""
    defaults = QueueSettings()
    parser.add_argument(
        "--redis-addr",
        default=defaults.redis_addr,
        metavar="HOST:PORT",
        help="Redis the RE Manager keeps its queue in (default %(default)s)",
    )
    parser.add_argument(
        "--redis-prefix", default=None, help="prefix of its Redis keys (default qs_<station name>)"
    )
    parser.add_argument(
        "--zmq-control-port",
        type=int,
        default=defaults.zmq_control_port,
        help="RE Manager 0MQ control port on 127.0.0.1 (default %(default)s)",
    )
    parser.add_argument(
        "--zmq-info-port",
        type=int,
        default=defaults.zmq_info_port,
        help="RE Manager 0MQ console-output port (default %(default)s)",
    )
    parser.add_argument(
        "--http-host", default=defaults.http_host, help="HTTP server address (default %(default)s)"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=defaults.http_port,
        help="HTTP server port (default %(default)s)",
    )


def settings_from_arguments(args: argparse.Namespace, config: StationConfig) -> QueueSettings:
    """`QueueSettings` from the options of `add_queue_arguments`."""
    prefix = args.redis_prefix or "qs_" + re.sub(r"[^A-Za-z0-9_-]", "_", config.station.name)
    return QueueSettings(
        redis_addr=args.redis_addr,
        redis_name_prefix=prefix,
        zmq_control_port=args.zmq_control_port,
        zmq_info_port=args.zmq_info_port,
        http_host=args.http_host,
        http_port=args.http_port,
    )


def serve_queue(config: StationConfig, settings: QueueSettings) -> int:
    """``acq queue``: the station's services and its queue server until Ctrl-C.

    A simulated station gets its IOCs, the embedded Tiled (unless the config names one) and
    the analysis worker, as with ``acq serve``; a hardware station uses the config's Tiled and
    the analysis worker already running for it.

    Returns
    -------
    int
        0 after Ctrl-C; 1 if Redis does not answer or a service cannot start.
    """
    from ..runtime.tiled_client import endpoint
    from ..services import start_simulated_services

    with ExitStack() as stack:
        try:
            check_redis(settings.redis_addr)
            if config.simulation is not None:
                _, uri, api_key = start_simulated_services(config, stack)
            else:
                uri, api_key = endpoint(config)
            server = stack.enter_context(QueueServer(config, settings, uri, api_key))
        except (QueueServerError, ServiceError) as error:
            print(f"acq: {error}", file=sys.stderr)
            return 1
        print(
            f"RE Manager: 0MQ control {settings.zmq_control_addr}, console output "
            f"{settings.zmq_info_addr}; Redis {settings.redis_addr} (keys "
            f"{settings.redis_name_prefix}*)\n"
            f"HTTP server: {settings.http_uri} (API key in {server.directory / 'api_key'})\n"
            f"log {server.log_path}\n"
            f"Ctrl-C stops",
            flush=True,
        )
        serve_until_interrupted()
        return 0
