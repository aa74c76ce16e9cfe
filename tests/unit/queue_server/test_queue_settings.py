"""Where ``acq queue``'s parts listen: the config's ``[queue]`` ports, which its options
override, so two stations on one machine each run a queue server on ports of their own."""

from __future__ import annotations

import argparse

from acq.config import load_config, parse_config
from acq.queue_server.launch import QueueSettings, add_queue_arguments, settings_from_arguments


def _settings(config, *argv: str) -> QueueSettings:
    parser = argparse.ArgumentParser()
    add_queue_arguments(parser)
    return settings_from_arguments(parser.parse_args(list(argv)), config)


def test_the_packaged_default_listens_on_the_queue_servers_own_defaults():
    settings = _settings(load_config())
    defaults = QueueSettings()
    assert (settings.zmq_control_port, settings.zmq_info_port, settings.http_port) == (
        defaults.zmq_control_port,
        defaults.zmq_info_port,
        defaults.http_port,
    )


def test_a_stations_queue_ports_come_from_its_config_and_options_override_them():
    raw = load_config().model_dump(mode="json")
    raw["queue"].update(zmq_control_port=61615, zmq_info_port=61625, http_port=61610)
    config = parse_config(raw)
    settings = _settings(config)
    assert settings.zmq_control_addr == "tcp://127.0.0.1:61615"
    assert settings.zmq_info_addr == "tcp://127.0.0.1:61625"
    assert settings.http_uri == "http://127.0.0.1:61610"
    overridden = _settings(config, "--http-port", "62610", "--zmq-control-port", "62615")
    assert (overridden.http_port, overridden.zmq_control_port) == (62610, 62615)
    assert overridden.zmq_info_port == 61625
