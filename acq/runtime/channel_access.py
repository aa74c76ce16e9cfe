"""Channel Access for a simulated station: loopback only, on the ports of the station's config.

A simulated station's IOCs serve on 127.0.0.1 alone, on ``[station] ca_server_port`` (beacons
to ``ca_repeater_port``), so its clients must look for them there; a hardware station is
reached through the site's EPICS environment, which nothing here touches. libca reads the
environment once, when its context is made — which ophyd does as it is imported — so this
module imports nothing of EPICS and `configure_channel_access` must run first.
"""

from __future__ import annotations

import os
import sys

#: What a Channel Access client needs to find a station's IOCs on loopback.
LOOPBACK_CLIENT_ENVIRONMENT = {
    "EPICS_CA_ADDR_LIST": "127.0.0.1",
    "EPICS_CA_AUTO_ADDR_LIST": "NO",
    # Room for spectra, traces and messages as waveforms (pyepics' default is 16 MiB).
    "EPICS_CA_MAX_ARRAY_BYTES": "20000000",
}


def configure_channel_access(server_port: int, repeater_port: int) -> None:
    """Point this process's Channel Access at a station on loopback ``server_port``.

    The ports replace the shell's (``EPICS_CA_SERVER_PORT`` and the rest): the station's
    config names them, so two stations on one machine do not answer each other's clients.
    The loopback address list is set unless already set. Child processes inherit all of it.

    Parameters
    ----------
    server_port
        CA server port of the station's IOCs (``[station] ca_server_port``).
    repeater_port
        CA repeater port, where the IOCs' beacons go (``[station] ca_repeater_port``).

    Raises
    ------
    RuntimeError
        If the environment must change but this process already has a Channel Access context
        (it would not see the change).
    """
    changes = {
        key: value for key, value in LOOPBACK_CLIENT_ENVIRONMENT.items() if key not in os.environ
    }
    changes.update(
        {
            key: value
            for key, value in channel_access_ports(server_port, repeater_port).items()
            if os.environ.get(key) != value
        }
    )
    if not changes:
        return
    ca = sys.modules.get("epics.ca")
    if ca is not None and getattr(ca, "libca", None) is not None:
        raise RuntimeError(
            f"Channel Access is already set up in this process (ophyd was "
            f"imported first) without {', '.join(sorted(changes))}: configure it "
            f"before importing ophyd or pyepics"
        )
    os.environ.update(changes)


def loopback_environment(server_port: int, repeater_port: int) -> dict[str, str]:
    """This process's environment for a child that serves or uses a station on loopback
    ``server_port`` (set before the child starts: it may import ophyd at once)."""
    return {
        **LOOPBACK_CLIENT_ENVIRONMENT,
        **os.environ,
        **channel_access_ports(server_port, repeater_port),
    }


def channel_access_ports(server_port: int, repeater_port: int) -> dict[str, str]:
    """Environment variables that put Channel Access clients and servers on ``server_port``,
    the repeater and the servers' beacons on ``repeater_port``."""
    return {
        "EPICS_CA_SERVER_PORT": str(server_port),
        "EPICS_CAS_SERVER_PORT": str(server_port),
        "EPICS_CA_REPEATER_PORT": str(repeater_port),
        "EPICS_CAS_BEACON_PORT": str(repeater_port),
    }
