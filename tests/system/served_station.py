"""``acq serve`` as a subprocess on a station of its own (PV prefix, Channel Access, Tiled and
0MQ ports), for system tests that reach it as a user does (`acq run`, a Tiled client); its
children are found with psutil."""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from acq.config import StationConfig
from acq.runtime.channel_access import loopback_environment
from acq.runtime.tiled_client import connect, embedded_api_key
from acq.services.ports import free_channel_access_port, free_tcp_port
from tests.stations import write_toml

ACQ = str(Path(sys.executable).with_name("acq"))
#: Wall seconds ``acq serve`` gets to start its children, a child to be restarted, a plan to
#: run (imports included, on a loaded machine).
SERVE_TIMEOUT_S = 240.0
RESTART_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 180.0


@dataclass
class ServedStation:
    """An ``acq serve`` subprocess and what the test needs to reach its station."""

    config: StationConfig
    config_file: Path
    env: dict[str, str]
    process: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def child(self, command: tuple[str, ...]) -> psutil.Process:
        """The running child of ``acq serve`` whose command line holds ``command``."""
        for child in psutil.Process(self.process.pid).children():
            try:
                cmdline = child.cmdline()
                running = child.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                continue
            if running and any(
                tuple(cmdline[i : i + len(command)]) == command for i in range(len(cmdline))
            ):
                return child
        raise LookupError(f"no child {command} of acq serve")

    def wait_for_line(self, *parts: str, timeout_s: float = RESTART_TIMEOUT_S) -> str:
        """The next line of ``acq serve``'s output holding every one of ``parts``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if time.monotonic() < deadline and self.process.poll() is None:
                    continue
                raise AssertionError(
                    f"acq serve said nothing with {parts} (exit status {self.process.poll()}); "
                    f"it said:\n" + "\n".join(self.seen)
                ) from None
            self.seen.append(line)
            if all(part in line for part in parts):
                return line

    def run(self, *args: str, timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
        """``acq run ARGS`` against this station (given ``timeout_s`` wall seconds)."""
        return subprocess.run(
            [ACQ, "run", *args, "--config", str(self.config_file)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def run_plan(self) -> str:
        """A quick plan run against the station: its uid."""
        done = self.run("pressure_step", "--param", "pressure_MPa=10", "--analysis-wait-s", "0")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done.stdout.split("run(s) ")[-1].split()[0]

    def client(self):
        """A client of the station's Tiled."""
        return connect(
            f"http://127.0.0.1:{self.config.tiled.port}",
            embedded_api_key(self.config.station.data_dir),
        )


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def own_ports() -> dict[str, dict[str, int]]:
    """Config overrides that give a station Channel Access, Tiled and 0MQ ports of its own."""
    port = free_channel_access_port()
    return {
        "station": {"ca_server_port": port, "ca_repeater_port": port + 1},
        "tiled": {"port": free_tcp_port()},
        "analysis": {"zmq_in_port": free_tcp_port(), "zmq_out_port": free_tcp_port()},
    }


def serve(config: StationConfig, directory: Path) -> ServedStation:
    """``acq serve`` of ``config`` (written into ``directory``) on a Channel Access port of its
    own, once it says it serves."""
    config_file = write_toml(config, directory / "station.toml")
    station = config.station
    env = loopback_environment(station.ca_server_port, station.ca_repeater_port)
    process = subprocess.Popen(
        [ACQ, "serve", "--config", str(config_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = ServedStation(config, config_file, env, process)
    threading.Thread(target=_read_lines, args=(process.stdout, served.lines), daemon=True).start()
    served.wait_for_line("Ctrl-C stops", timeout_s=SERVE_TIMEOUT_S)
    return served


def stop(served: ServedStation) -> None:
    """Stop ``acq serve`` (SIGTERM) and anything of it left behind."""
    try:
        children = psutil.Process(served.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            served.process.kill()
    for child in children:  # none should be left; a test that fails may leave some
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
