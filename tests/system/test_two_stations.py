"""Two simulated stations on one machine, each on the Channel Access ports of its own config
(``[station] ca_server_port``, ``ca_repeater_port``), serve side by side: a client process of
each, started from a shell whose ``EPICS_CA_*`` ports are the other station's, reads and
writes its own station alone."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from acq.runtime.channel_access import channel_access_ports
from acq.services import SimulatedStationProcess
from acq.services.ports import free_channel_access_port
from tests.stations import small_station_config, write_toml

REPOSITORY = Path(__file__).parents[2]
#: A client of one station, as ``acq run`` and the IPython session are: Channel Access set from
#: the config before ophyd is imported. It writes the detector's exposure (argv[2]), s, and
#: prints the exposure read back and the press's rating, MPa.
CLIENT = """
import sys
from acq.config import load_config
from acq.runtime.channel_access import configure_channel_access

config = load_config(sys.argv[1])
configure_channel_access(config.station.ca_server_port, config.station.ca_repeater_port)
from acq.beamline import build_station, connect_station

station = build_station(config)
connect_station(station)
cam = station.detector.cam
cam.acquire_time.set(float(sys.argv[2])).wait(10)
print(cam.acquire_time.get(use_monitor=False), station.press.rating_MPa.get(use_monitor=False))
station.close()
"""


def _two_free_port_pairs() -> list[int]:
    ports: list[int] = []
    while len(ports) < 2:
        port = free_channel_access_port()
        taken = {*ports, *(p + 1 for p in ports), int(os.environ["EPICS_CA_SERVER_PORT"])}
        if not {port, port + 1} & taken:
            ports.append(port)
    return ports


def _client(config_file: Path, exposure_s: float, shell_ports: dict[str, str]) -> list[float]:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(config_file), repr(exposure_s)],
        cwd=REPOSITORY,
        env={**os.environ, **shell_ports},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [float(word) for word in done.stdout.split()[-2:]]


def test_two_stations_serve_side_by_side_on_their_configs_ports(tmp_path):
    ports = _two_free_port_pairs()
    configs = [
        small_station_config(
            tmp_path / f"station{index}",
            station={"ca_server_port": port, "ca_repeater_port": port + 1},
            press={"rating_MPa": rating},
        )
        for index, (port, rating) in enumerate(zip(ports, (150.0, 120.0), strict=True))
    ]
    assert configs[0].station.prefix != configs[1].station.prefix
    files = [write_toml(config, tmp_path / f"station{i}.toml") for i, config in enumerate(configs)]
    with ExitStack() as stack:
        for config in configs:
            stack.enter_context(SimulatedStationProcess(config, name=config.station.prefix))
        for config_file, config, other, exposure_s in zip(
            files, configs, reversed(configs), (0.25, 0.5), strict=True
        ):
            station = config.station
            shell = channel_access_ports(
                other.station.ca_server_port, other.station.ca_repeater_port
            )
            read_back = _client(config_file, exposure_s, shell)
            assert read_back == [exposure_s, config.press.rating_MPa], station.prefix
