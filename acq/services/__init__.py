"""The processes a station runs beside its RunEngine, each a `ChildService`.

=========================  ====================================================================
`SimulatedStationProcess`  the simulated IOCs (and a Channel Access repeater)
`PlaybackStationProcess`   the same IOCs playing a recorded run back (replay)
`EmbeddedTiled`            Tiled's server on the station's own catalog under ``data_dir/tiled``
`AnalysisWorkerProcess`    bluesky's 0MQ proxy and the live-analysis worker behind it
`Supervisor`               restarts a service whose process exits, within a budget
=========================  ====================================================================

`start_simulated_services` brings up what ``acq serve``, ``acq queue`` and ``acq demo`` serve,
under a `Supervisor`. The queue server, a service too, has a room of its own
(`acq.queue_server`).
"""

from __future__ import annotations

from contextlib import ExitStack

from tiled.client.container import Container

from ..config import StationConfig
from ..runtime.tiled_client import connect, endpoint
from .analysis_worker import AnalysisWorkerProcess
from .child import ChildService, ServiceError, serve_until_interrupted
from .playback_station import PlaybackStationProcess
from .simulated_station import SimulatedStationProcess, simulation_parameters
from .supervisor import Supervisor
from .tiled_server import EmbeddedTiled, embedded_tiled

__all__ = [
    "AnalysisWorkerProcess",
    "ChildService",
    "EmbeddedTiled",
    "PlaybackStationProcess",
    "ServiceError",
    "SimulatedStationProcess",
    "Supervisor",
    "embedded_tiled",
    "serve_until_interrupted",
    "simulation_parameters",
    "start_simulated_services",
]


def start_simulated_services(
    config: StationConfig, stack: ExitStack
) -> tuple[Container, str, str]:
    """Start the simulated IOCs, the embedded Tiled server when the config names none, and
    the analysis worker (with its 0MQ proxy), under a `Supervisor` that restarts one whose
    process exits.

    All stop when ``stack`` closes, the supervisor first. The IOCs serve on the config's
    Channel Access ports (``[station] ca_server_port``, ``ca_repeater_port``), on loopback,
    whatever this process's environment says.

    Returns
    -------
    client, uri, api_key
        A Tiled client with the ``raw`` and ``analysis`` containers, and where it points.
    """
    ioc = stack.enter_context(SimulatedStationProcess(config))
    services: list[ChildService] = [ioc]
    print(
        f"simulated station {config.station.prefix!r} serving "
        f"(time scale {config.station.time_scale:g}; IOC log {ioc.log_path})",
        flush=True,
    )
    if config.tiled.uri:
        uri, api_key = endpoint(config)
    else:
        server = stack.enter_context(embedded_tiled(config))
        services.append(server)
        uri, api_key = server.uri, server.api_key
        print(
            f"embedded Tiled at {uri} (catalog under {server.directory}, API key in "
            f"{server.directory / 'api_key'})",
            flush=True,
        )
    client = connect(uri, api_key)
    worker = stack.enter_context(AnalysisWorkerProcess(config, uri, api_key))
    source = (
        f"a consumer of the broker at {config.analysis.broker_url}"
        if config.analysis.broker_url
        else f"listening on the 0MQ proxy at port {config.analysis.zmq_out_port}"
    )
    print(f"analysis worker {source} (log {worker.log_path})", flush=True)
    services.append(worker)
    supervisor = stack.enter_context(Supervisor(services))
    print(
        f"supervising {', '.join(service.name for service in services)}: one that exits is "
        f"restarted (up to {supervisor.max_restarts} times within "
        f"{supervisor.window_s:.0f} s)",
        flush=True,
    )
    return client, uri, api_key
