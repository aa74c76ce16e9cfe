"""The analysis worker: a process fed by bluesky's 0MQ document stream.

The RunEngine publishes every document to a ``bluesky-0MQ-proxy`` (`acq.engine`); the worker
subscribes to the proxy with a `bluesky.callbacks.zmq.RemoteDispatcher` and hands each
document to `LiveAnalysis` on a thread of its own, so a slow CT analysis neither delays
acquisition nor makes the dispatcher miss documents. Run it as::

    python -m acq.analysis.worker --config station.toml

`AnalysisWorkerProcess` starts the proxy and the worker as child processes (what ``acq demo``
and ``acq serve`` do).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..child_process import log_tail, stop_process
from ..config import StationConfig, load_config, parse_config
from ..tiled_service import endpoint

#: Wall seconds the proxy and worker get to come up (imports included, on a loaded machine).
STARTUP_TIMEOUT_S = 60.0
#: Line the worker prints once it is subscribed to the proxy.
READY_LINE = "analysis worker ready"
#: Wall seconds after the worker has subscribed before it reports ready: the subscription
#: must reach the proxy, or the first documents are dropped (0MQ's "slow joiner").
SUBSCRIBE_MARGIN_S = 0.3
#: Environment variable the Tiled client reads its API key from.
TILED_API_KEY_VARIABLE = "TILED_API_KEY"


def zmq_address(port: int) -> str:
    """A loopback 0MQ address."""
    return f"127.0.0.1:{port}"


def serve(config: StationConfig, tiled_uri: str, api_key: str | None) -> None:
    """Analyse the documents the config's 0MQ proxy publishes until interrupted."""
    from bluesky.callbacks.zmq import RemoteDispatcher

    from ..streaming import BackgroundWriter
    from ..tiled_service import connect
    from .live import LiveAnalysis

    client = connect(tiled_uri, api_key)
    analysis = LiveAnalysis(client, circuit=config.analysis.circuit,
                            report=lambda line: print(line, flush=True))
    dispatcher = RemoteDispatcher(zmq_address(config.analysis.zmq_out_port))
    dispatcher.subscribe(BackgroundWriter(analysis, name="live-analysis"))
    # `start` connects and subscribes in its first loop step; report ready after that.
    dispatcher.loop.call_later(SUBSCRIBE_MARGIN_S, lambda: print(
        f"{READY_LINE}: documents from {zmq_address(config.analysis.zmq_out_port)}, "
        f"results to {tiled_uri} ('analysis')", flush=True))
    dispatcher.start()


class AnalysisWorkerProcess:
    """The 0MQ proxy and the analysis worker of ``config`` as child processes.

    Parameters
    ----------
    config
        The station config (its ``[analysis]`` ports).
    tiled_uri, api_key
        The Tiled server the results go to (the key reaches the worker in its environment).
    """

    def __init__(self, config: StationConfig, tiled_uri: str, api_key: str | None) -> None:
        self.config = config
        self.tiled_uri, self.api_key = tiled_uri, api_key
        self._workdir = Path(tempfile.mkdtemp(prefix="ssb-analysis-"))
        self.log_path = self._workdir / "worker.log"
        self._processes: list[subprocess.Popen] = []

    def start(self) -> None:
        """Start the proxy, then the worker; return once the worker is subscribed.

        Raises
        ------
        RuntimeError
            If either exits (e.g. a port in use) or the worker is not ready within
            `STARTUP_TIMEOUT_S`, with the log's tail.
        """
        config_file = self._workdir / "config.json"
        config_file.write_text(json.dumps(self.config.model_dump(mode="json")))
        log = open(self.log_path, "w")
        proxy = shutil.which("bluesky-0MQ-proxy") or str(
            Path(sys.executable).with_name("bluesky-0MQ-proxy"))
        analysis = self.config.analysis
        commands = ([proxy, str(analysis.zmq_in_port), str(analysis.zmq_out_port)],
                    [sys.executable, "-u", "-m", "acq.analysis.worker", "--config-json",
                     str(config_file), "--tiled-uri", self.tiled_uri])
        env = {**os.environ, TILED_API_KEY_VARIABLE: self.api_key or ""}
        for command in commands:
            self._processes.append(subprocess.Popen(command, stdout=log, env=env,
                                                    stderr=subprocess.STDOUT))
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while READY_LINE not in self.log_path.read_text():
            exited = [process.returncode for process in self._processes
                      if process.poll() is not None]
            if exited or time.monotonic() > deadline:
                self.stop()
                why = f"exit {exited[0]}" if exited else f"not ready in {STARTUP_TIMEOUT_S} s"
                raise RuntimeError(f"analysis worker did not start ({why}):\n"
                                   f"{log_tail(self.log_path)}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the worker's (and proxy's) log."""
        return log_tail(self.log_path, lines)

    def stop(self) -> None:
        """Stop the worker and the proxy."""
        for process in reversed(self._processes):
            stop_process(process)
        self._processes = []

    def __enter__(self) -> AnalysisWorkerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acq.analysis.worker",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="station config (TOML)")
    source.add_argument("--config-json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tiled-uri", help="Tiled server for the results (default: the "
                        "config's; its API key from $TILED_API_KEY or the config)")
    args = parser.parse_args(argv)
    if args.config_json:
        config = parse_config(json.loads(args.config_json.read_text()), str(args.config_json))
    else:
        config = load_config(args.config)
    uri, api_key = endpoint(config)
    try:
        serve(config, args.tiled_uri or uri, os.environ.get(TILED_API_KEY_VARIABLE) or api_key)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
