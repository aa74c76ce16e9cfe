"""The analysis worker: a process fed by bluesky's 0MQ document stream or by the broker.

By default the RunEngine publishes every document to a ``bluesky-0MQ-proxy``
(`acq.runtime.engine`); the worker subscribes to the proxy with a
`bluesky.callbacks.zmq.RemoteDispatcher` and hands each document to
`acq.analysis.live.LiveAnalysis` on a thread of its own, so a slow CT analysis neither delays
acquisition nor makes the dispatcher miss documents. With ``[analysis] broker_url`` set, it is
instead a competing consumer of the runs NATS JetStream keeps
(`acq.services.broker_analysis`), and there is no proxy. Run it as::

    python -m acq.services.analysis_worker --config station.toml

`AnalysisWorkerProcess` starts the proxy (if any) and the worker as child processes (what
``acq demo`` and ``acq serve`` do).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from threadpoolctl import threadpool_limits

from ..config import StationConfig, load_config, parse_config
from ..runtime.tiled_client import TILED_API_KEY_VARIABLE, endpoint
from .child import ChildService

#: Line the worker prints once it is subscribed to the proxy.
READY_LINE = "analysis worker ready"
#: Wall seconds after the worker has subscribed before it reports ready: the subscription
#: must reach the proxy, or the first documents are dropped (0MQ's "slow joiner").
SUBSCRIBE_MARGIN_S = 0.3


def zmq_address(port: int) -> str:
    """A loopback 0MQ address."""
    return f"127.0.0.1:{port}"


def serve(config: StationConfig, tiled_uri: str, api_key: str | None) -> None:
    """Analyse the documents the config's 0MQ proxy publishes until interrupted; once
    subscribed, catch up on the finished runs that have no analysis yet (on a thread of its
    own: documents keep arriving meanwhile). With a broker, analyse the runs it hands this
    worker instead (the broker keeps what a worker that was down missed)."""
    if config.analysis.broker_url:
        _serve_from_broker(config, tiled_uri, api_key)
        return
    from bluesky.callbacks.zmq import RemoteDispatcher

    from ..analysis.live import LiveAnalysis
    from ..runtime.streaming import BackgroundWriter
    from ..runtime.tiled_client import connect

    client = connect(tiled_uri, api_key)
    analysis = LiveAnalysis(
        client, circuit=config.analysis.circuit, report=lambda line: print(line, flush=True)
    )
    dispatcher = RemoteDispatcher(zmq_address(config.analysis.zmq_out_port))
    dispatcher.subscribe(BackgroundWriter(analysis, name="live-analysis"))

    def subscribed() -> None:
        print(
            f"{READY_LINE}: documents from {zmq_address(config.analysis.zmq_out_port)}, "
            f"results to {tiled_uri} ('analysis')",
            flush=True,
        )
        threading.Thread(target=analysis.catch_up, name="catch-up", daemon=True).start()

    # `start` connects and subscribes in its first loop step; report ready after that.
    dispatcher.loop.call_later(SUBSCRIBE_MARGIN_S, subscribed)
    dispatcher.start()


def _serve_from_broker(config: StationConfig, tiled_uri: str, api_key: str | None) -> None:
    """`serve` with the config's broker (`acq.services.broker_analysis`)."""
    import asyncio

    from ..runtime.tiled_client import connect
    from .broker_analysis import serve_from_broker

    def ready() -> None:
        print(
            f"{READY_LINE}: runs from the broker at {config.analysis.broker_url}, results to "
            f"{tiled_uri} ('analysis')",
            flush=True,
        )

    client = connect(tiled_uri, api_key)
    try:
        asyncio.run(serve_from_broker(config, client, lambda line: print(line, flush=True), ready))
    except ConnectionError as error:
        print(f"analysis worker: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


class AnalysisWorkerProcess(ChildService):
    """The 0MQ proxy and the analysis worker of ``config`` as child processes.

    Parameters
    ----------
    config
        The station config (its ``[analysis]`` ports or broker).
    tiled_uri, api_key
        The Tiled server the results go to (the key reaches the worker in its environment).
    name
        What the worker is called in messages; its log is named after it (several workers
        of one config, each a competing consumer of the broker, need names of their own).

    The worker's log and the config it reads are under ``<data_dir>/services``. Started again
    (`acq.services.supervisor.Supervisor`), the worker catches up on the runs it missed
    (`acq.analysis.live.LiveAnalysis.catch_up`).
    """

    restart_note = "the worker analyses the finished runs that have no analysis run yet"

    def __init__(
        self,
        config: StationConfig,
        tiled_uri: str,
        api_key: str | None,
        name: str = "analysis worker",
    ) -> None:
        services = config.station.data_dir.resolve() / "services"
        super().__init__(name, services / f"{name.replace(' ', '_')}.log")
        self.config = config
        self.tiled_uri, self.api_key = tiled_uri, api_key
        self.config_path = services / f"{name.replace(' ', '_')}_config.json"

    def start(self) -> None:
        """Start the proxy (without a broker), then the worker; return once the worker is
        subscribed.

        Raises
        ------
        ServiceError
            If either exits (e.g. a port in use) or the worker is not ready in time.
        """
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.touch(mode=0o600)  # it may hold a remote Tiled's API key
        self.config_path.write_text(json.dumps(self.config.model_dump(mode="json")))
        analysis = self.config.analysis
        env = {**os.environ, TILED_API_KEY_VARIABLE: self.api_key or ""}
        if not analysis.broker_url:
            # On loopback: bluesky-0MQ-proxy given bare ports binds every interface, unencrypted.
            self.launch(
                [
                    sys.executable,
                    "-m",
                    "bluesky.commandline.zmq_proxy",  # bluesky-0MQ-proxy
                    "--in-address",
                    f"tcp://{zmq_address(analysis.zmq_in_port)}",
                    "--out-address",
                    f"tcp://{zmq_address(analysis.zmq_out_port)}",
                ],
                env,
            )
        # A restart appends: look for a new READY_LINE (no log yet without a proxy).
        logged = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.launch(
            [
                sys.executable,
                "-m",
                __name__,
                "--config-json",
                str(self.config_path),
                "--tiled-uri",
                self.tiled_uri,
            ],
            env,
        )
        self.wait_until(lambda: READY_LINE in self._log_since(logged))

    def _log_since(self, offset: int) -> str:
        """The log from byte ``offset`` on (a restart appends to it)."""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m acq.services.analysis_worker``: analyse until interrupted."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="station config (TOML)")
    source.add_argument("--config-json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--tiled-uri",
        help="Tiled server for the results (default: the "
        "config's; its API key from $TILED_API_KEY or the config)",
    )
    args = parser.parse_args(argv)
    if args.config_json:
        config = parse_config(json.loads(args.config_json.read_text()), str(args.config_json))
    else:
        config = load_config(args.config)
    uri, api_key = endpoint(config)
    # OpenBLAS's threads spin on the small least-squares problems of the EIS fit and KK test:
    # on two cores shared with the IOCs, Tiled and the RunEngine, a fit took 29 ms of wall
    # time with them against 16 ms on one thread (benchmarks/eis_fit.py runs it so too).
    threadpool_limits(limits=1, user_api="blas")
    with contextlib.suppress(KeyboardInterrupt):
        serve(config, args.tiled_uri or uri, os.environ.get(TILED_API_KEY_VARIABLE) or api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
