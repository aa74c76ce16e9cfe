"""Bring up what a simulated station needs: its IOCs and (unless configured) its Tiled."""

from __future__ import annotations

from contextlib import ExitStack

from tiled.client.container import Container

from .analysis.worker import AnalysisWorkerProcess
from .config import StationConfig
from .simulation import SimulatedStationProcess, configure_channel_access
from .tiled_service import connect, embedded_tiled


def start_simulated_services(config: StationConfig,
                             stack: ExitStack) -> tuple[Container, str, str]:
    """Start the simulated IOCs, the embedded Tiled server when the config names none, and
    the analysis worker (with its 0MQ proxy).

    All stop when ``stack`` closes.

    Returns
    -------
    client, uri, api_key
        A Tiled client with the ``raw`` and ``analysis`` containers, and where it points.
    """
    configure_channel_access()
    ioc = stack.enter_context(SimulatedStationProcess(config))
    print(f"simulated station {config.station.prefix!r} serving "
          f"(time scale {config.station.time_scale:g}; IOC log {ioc.log_path})")
    if config.tiled.uri:
        uri, api_key = config.tiled.uri, config.tiled.api_key
    else:
        server = stack.enter_context(embedded_tiled(config))
        uri, api_key = server.uri, server.api_key
        print(f"embedded Tiled at {uri} (catalog under {server.directory}, API key in "
              f"{server.directory / 'api_key'})")
    client = connect(uri, api_key)
    worker = stack.enter_context(AnalysisWorkerProcess(config, uri, api_key))
    print(f"analysis worker listening on the 0MQ proxy at port "
          f"{config.analysis.zmq_out_port} (log {worker.log_path})")
    return client, uri, api_key
