"""The station's queue server: RE Manager on Redis, with bluesky-httpserver in front of it.

`QueueServer` (a context manager) starts the station's own Redis with persistence
(`acq.queue_server.redis_server`; or checks that the Redis the config names answers), writes
the station config where the startup module (`acq.queue_server.startup`) finds it, generates
the list of existing plans and devices with the queue server's own
``qserver-list-plans-devices``, starts the RE Manager (`acq.queue_server.re_manager`:
``start-re-manager`` refusing non-finite numbers) with that list, the user-group permissions
of this package, the Redis address and key prefix, the 0MQ addresses and its CurveZMQ private
key, waits until it answers its status call, then starts bluesky-httpserver
(`acq.queue_server.http_process`) with a single-user API key. Keys go through the
environment, never a command line (`acq.queue_server.keys`). Stopping it stops the queue,
aborts a running plan (the run closes with exit_status "abort"), closes the worker
environment and stops the manager before its processes are ended, then the HTTP server, then
Redis. `serve_queue` is ``acq queue``: the station's services (for a simulated station: IOCs,
embedded Tiled, analysis worker) and the queue server until Ctrl-C or SIGTERM.

Supervision under ``acq queue`` (`acq.services.supervisor`, `QueueServer.services`):

- the HTTP server is a service of its own (`acq.queue_server.http_process`): it keeps no
  state, and is restarted alone, the manager and a running plan untouched;
- the station's own Redis is restarted on its port and data directory: the queue and history
  come back from its append-only file, and the manager's Redis commands retry meanwhile
  (`acq.queue_server.re_manager.REDIS_RETRY`). A site's Redis named in the config is the
  site's to keep up: not watched;
- the RE Manager's top process, ``start-re-manager``'s watchdog, restarts a manager process
  that dies or stops answering, itself. The watchdog is not restarted when it exits: the
  manager process and RE worker it started are its children, not ours; killed, it leaves
  the manager running, still answering on the 0MQ control port with the queue in Redis, and
  the worker (tethered to it, `acq.queue_server.startup`) ending its plan. A new watchdog
  beside them would be a second manager of the same station, possibly mid plan. So its exit
  stops the station (`ChildService.no_restart_reason`): one line, then the shutdown as at
  Ctrl-C, which reaches the manager it left through the 0MQ API.
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

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..config import StationConfig
from ..runtime.tiled_client import TILED_API_KEY_VARIABLE
from ..services.child import (
    STARTUP_TIMEOUT_S,
    ChildService,
    ServiceError,
    ignore_stop_signals,
    serve_until_interrupted,
)
from ..services.supervisor import Supervisor
from . import CONFIG_VARIABLE, TILED_URI_VARIABLE
from .http_process import HTTPServerProcess
from .keys import (
    ZMQ_PRIVATE_KEY_VARIABLE,
    ZMQ_PUBLIC_KEY_VARIABLE,
    http_api_key,
    keys_directory,
    without_keys,
    zmq_key_pair,
)
from .redis_server import RedisServer

#: The RE Manager's startup module.
STARTUP_MODULE = "acq.queue_server.startup"
#: The RE Manager as ``acq queue`` runs it (``python -m``).
MANAGER_MODULE = "acq.queue_server.re_manager"
#: Who may run which plans on which devices.
PERMISSIONS_PATH = Path(__file__).with_name("user_group_permissions.yaml")
#: Wall seconds a running plan gets to pause and abort, and the environment to close, when
#: the queue server stops.
SHUTDOWN_TIMEOUT_S = 60.0
#: Wall seconds Redis gets to answer a ping.
REDIS_TIMEOUT_S = 2.0
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
        ``host:port`` of a Redis run by the site; empty: the station's own, started on
        127.0.0.1 ``redis_port`` with persistence under ``<data_dir>/queue/redis``.
    redis_port
        Port of the station's own Redis.
    redis_name_prefix
        Prefix of the RE Manager's Redis keys (one per station sharing a Redis).
    zmq_control_port, zmq_info_port
        TCP ports of the RE Manager's 0MQ control and console-output sockets, on 127.0.0.1.
    http_host, http_port
        Where bluesky-httpserver listens.
    """

    redis_addr: str = ""
    redis_port: int = 60635
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


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class QueueServer(ChildService):
    """RE Manager of a station, with its HTTP server and its Redis (a context manager).

    The service's process is the RE Manager's watchdog (the top process of
    ``start-re-manager``); the HTTP server (`http`) and the station's own Redis (`redis`)
    are services of their own, started and stopped with it.

    Parameters
    ----------
    config
        The station config the startup module builds the station from.
    settings
        Redis and the ports.
    tiled_uri, tiled_api_key
        The Tiled server runs are written to.

    Files (the station config as the startup module reads it, the list of existing plans and
    devices, the keys, the logs, the station's Redis data) go to ``<data_dir>/queue``
    (owner-only).
    """

    #: Why its watchdog is not restarted (the module's "Supervision").
    no_restart_reason = (
        "start-re-manager's watchdog restarts a dead manager itself; a new one beside the "
        "manager and worker this one may have left would be a second manager of the station"
    )

    def __init__(
        self,
        config: StationConfig,
        settings: QueueSettings,
        tiled_uri: str,
        tiled_api_key: str | None,
    ) -> None:
        self.directory = keys_directory(config.station.data_dir)
        super().__init__("RE Manager", self.directory / "re_manager.log")
        self.config = config
        self.settings = settings
        self.tiled_uri, self.tiled_api_key = tiled_uri, tiled_api_key
        self.api_key = http_api_key(config.station.data_dir)
        self.zmq_keys = zmq_key_pair(config.station.data_dir)
        self.plans_devices_path = self.directory / "existing_plans_and_devices.yaml"
        self.config_path = self.directory / "station_config.json"
        #: The station's own Redis, unless the settings name one.
        self.redis = (
            None
            if settings.redis_addr
            else RedisServer(self.directory / "redis", settings.redis_port)
        )
        self.http = HTTPServerProcess(
            self.directory / "http_server.log",
            host=settings.http_host,
            port=settings.http_port,
            zmq_control_addr=settings.zmq_control_addr,
            zmq_info_addr=settings.zmq_info_addr,
            zmq_public_key=self.zmq_keys.public,
            api_key=self.api_key,
        )

    @property
    def services(self) -> list[ChildService]:
        """What ``acq queue``'s supervisor watches: the HTTP server, the station's own Redis
        (not a site's) and the RE Manager's watchdog (never restarted)."""
        return [self.http, *([self.redis] if self.redis is not None else []), self]

    @property
    def redis_addr(self) -> str:
        """``host:port`` of the Redis the RE Manager keeps its queue in."""
        return self.redis.addr if self.redis is not None else self.settings.redis_addr

    def environment(self) -> dict[str, str]:
        """Environment of the list generator and the RE Manager (station config, Tiled, 0MQ
        addresses and private key)."""
        return {
            **without_keys(os.environ),
            CONFIG_VARIABLE: str(self.config_path),
            TILED_URI_VARIABLE: self.tiled_uri,
            TILED_API_KEY_VARIABLE: self.tiled_api_key or "",
            ZMQ_PRIVATE_KEY_VARIABLE: self.zmq_keys.private,
        }

    def manager_command(self) -> list[str]:
        """The RE Manager's command line (``start-re-manager``'s options, no key)."""
        s = self.settings
        return [
            sys.executable,
            "-m",
            MANAGER_MODULE,
            "--startup-module",
            STARTUP_MODULE,
            "--existing-plans-devices",
            str(self.plans_devices_path),
            "--user-group-permissions",
            str(PERMISSIONS_PATH),
            "--redis-addr",
            self.redis_addr,
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

    def manager_api(self, timeout_s: float = 5.0):
        """A 0MQ client of the RE Manager, with its public key."""
        from bluesky_queueserver_api.zmq import REManagerAPI

        return REManagerAPI(
            zmq_control_addr=self.settings.zmq_control_addr,
            zmq_public_key=self.zmq_keys.public,
            timeout_recv=timeout_s,
        )

    def start(self) -> None:
        """Start (or check) Redis, list the plans and devices, start the RE Manager and the
        HTTP server.

        Raises
        ------
        QueueServerError
            If the site's Redis does not answer or the plans and devices cannot be listed.
        ServiceError
            If Redis, the RE Manager or the HTTP server fails or does not answer in time.
        """
        if self.redis is not None:
            self.redis.start()
        else:
            check_redis(self.settings.redis_addr)
        raw = self.config.model_dump(mode="json")
        raw["station"]["data_dir"] = str(self.config.station.data_dir.resolve())
        self.config_path.touch(mode=0o600)  # it may hold a remote Tiled's API key
        self.config_path.write_text(json.dumps(raw, indent=1))
        self._list_plans_and_devices()
        self.launch(self.manager_command(), self.environment())
        self.wait_until(self._manager_answers, STARTUP_TIMEOUT_S)
        self.http.start()

    def stop(self) -> None:
        """Stop the queue, abort a running plan, close the worker environment and stop the
        manager (each through the manager's API, so the run closes and the cell is switched
        off by the plan), then end its processes, the HTTP server and Redis."""
        if self._processes:
            self._shut_down_manager()
        super().stop()
        self.http.stop()
        if self.redis is not None:
            self.redis.stop()

    def _shut_down_manager(self) -> None:
        api = self.manager_api()
        try:
            if api.status()["manager_state"] == "executing_queue":
                api.queue_stop()  # no next item starts, whatever state the plan is in now
            if api.status()["re_state"] == "running":
                api.re_pause(option="immediate")  # the technique stops: cell off
                api.wait_for_idle_or_paused(timeout=SHUTDOWN_TIMEOUT_S)
            if api.status()["re_state"] == "paused":
                api.re_abort()  # the run closes with exit_status "abort"
            api.wait_for_idle(timeout=SHUTDOWN_TIMEOUT_S)  # the queue stopped, the plan ended
            status = api.status()
            if status["worker_environment_exists"]:
                if status["manager_state"] == "idle":
                    api.environment_close()
                else:  # a manager that cannot close it (stuck): end the worker
                    api.environment_destroy()
                api.wait_for_idle(timeout=SHUTDOWN_TIMEOUT_S)
            api.send_request(method="manager_stop", params={"option": "safe_on"})
            self._processes[0].wait(timeout=SHUTDOWN_TIMEOUT_S)
        except Exception as error:  # the processes are ended below either way
            print(f"acq: the queue server did not shut down cleanly ({error})", file=sys.stderr)
        finally:
            api.close()

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
                umask=0o077,  # the list it writes is the owner's only, as the rest here
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
        api = self.manager_api(timeout_s=1.0)
        try:
            api.status()
            return True
        except Exception:  # not answering yet
            return False
        finally:
            api.close()


def add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``acq queue`` (the ports default to the config's ``[queue]``)."""
    defaults = QueueSettings()
    parser.add_argument(
        "--redis-addr",
        default=None,
        metavar="HOST:PORT",
        help="a Redis of the site for the queue (default: the config's [queue] redis_addr, "
        "else the station's own Redis on [queue] redis_port, persisted under data_dir/queue)",
    )
    parser.add_argument(
        "--redis-prefix", default=None, help="prefix of its Redis keys (default qs_<station name>)"
    )
    parser.add_argument(
        "--zmq-control-port",
        type=int,
        default=None,
        help="RE Manager 0MQ control port on 127.0.0.1 (default: the config's [queue] "
        f"zmq_control_port, {defaults.zmq_control_port} unless set)",
    )
    parser.add_argument(
        "--zmq-info-port",
        type=int,
        default=None,
        help="RE Manager 0MQ console-output port (default: [queue] zmq_info_port, "
        f"{defaults.zmq_info_port} unless set)",
    )
    parser.add_argument(
        "--http-host", default=defaults.http_host, help="HTTP server address (default %(default)s)"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=None,
        help=f"HTTP server port (default: [queue] http_port, {defaults.http_port} unless set)",
    )


def settings_from_arguments(args: argparse.Namespace, config: StationConfig) -> QueueSettings:
    """`QueueSettings` from the options of `add_queue_arguments` and the config's ``[queue]``."""
    prefix = args.redis_prefix or "qs_" + re.sub(r"[^A-Za-z0-9_-]", "_", config.station.name)
    queue = config.queue
    return QueueSettings(
        redis_addr=args.redis_addr or queue.redis_addr,
        redis_port=queue.redis_port,
        redis_name_prefix=prefix,
        zmq_control_port=args.zmq_control_port or queue.zmq_control_port,
        zmq_info_port=args.zmq_info_port or queue.zmq_info_port,
        http_host=args.http_host,
        http_port=args.http_port or queue.http_port,
    )


def serve_queue(config: StationConfig, settings: QueueSettings) -> int:
    """``acq queue``: the station's services and its queue server until Ctrl-C or SIGTERM.

    A simulated station gets its IOCs, the embedded Tiled (unless the config names one) and
    the analysis worker, as with ``acq serve``; a hardware station uses the config's Tiled and
    the analysis worker already running for it. On Ctrl-C or SIGTERM a running plan is
    aborted (its run closes with exit_status "abort", the cell switched off by the plan),
    the worker environment closed, then everything stopped; further signals are ignored
    meanwhile. The HTTP server and the station's own Redis are restarted when they exit, and
    the RE Manager's watchdog exiting stops the station (the module's "Supervision"): a
    `Supervisor`, stopped before the services it watches.

    Returns
    -------
    int
        128 + the signal's number after SIGINT (130) or SIGTERM (143); 1 if Redis does not
        answer or a service cannot start or be kept up.
    """
    from ..runtime.tiled_client import endpoint
    from ..services import start_simulated_services

    with ExitStack() as stack:
        try:
            if settings.redis_addr:
                check_redis(settings.redis_addr)
            if config.simulation is not None:
                _, uri, api_key = start_simulated_services(config, stack)
            else:
                uri, api_key = endpoint(config)
            server = stack.enter_context(QueueServer(config, settings, uri, api_key))
        except (QueueServerError, ServiceError) as error:
            print(f"acq: {error}", file=sys.stderr)
            return 1
        redis = (
            f"the station's Redis {server.redis_addr} (persisted in {server.redis.directory})"
            if server.redis is not None
            else f"Redis {server.redis_addr}"
        )
        print(
            f"RE Manager: 0MQ control {settings.zmq_control_addr} (CurveZMQ: clients need "
            f"{ZMQ_PUBLIC_KEY_VARIABLE} from {server.zmq_keys.public_key_path}), console output "
            f"{settings.zmq_info_addr}; {redis}, keys {settings.redis_name_prefix}*\n"
            f"HTTP server: {settings.http_uri} (API key in {server.directory / 'api_key'})\n"
            f"logs in {server.directory}",
            flush=True,
        )
        supervisor = stack.enter_context(Supervisor(server.services))
        restarted = [service.name for service in server.services if not service.no_restart_reason]
        site_redis = "" if server.redis is not None else f" ({redis} is the site's to keep up)"
        print(
            f"supervising {', '.join(restarted)}{site_redis}: one that exits is restarted (up "
            f"to {supervisor.max_restarts} times within {supervisor.window_s:.0f} s); the RE "
            f"Manager's watchdog restarts a manager that dies, and if the watchdog itself "
            f"exits the station stops\n"
            f"Ctrl-C stops (a running plan is aborted first)",
            flush=True,
        )
        try:
            received = serve_until_interrupted()
        except ServiceError as error:
            print(f"acq: {error}", file=sys.stderr)
            return 1
        finally:
            ignore_stop_signals()  # the shutdown is not interrupted
        print(f"acq: {received.name}: stopping the queue server", file=sys.stderr, flush=True)
    return 128 + received
