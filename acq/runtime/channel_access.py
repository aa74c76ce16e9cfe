"""Channel Access for a simulated station: loopback only, on a port of the station's own.

A simulated station's IOCs serve on 127.0.0.1 alone, so its clients must look for them
there; a hardware station is reached through the site's EPICS environment, which nothing
here touches. libca reads the environment once, when its context is made — which ophyd does
as it is imported — so this module imports nothing of EPICS and `configure_channel_access`
must run first.
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


def configure_channel_access(server_port: int | None = None) -> None:
    """Point this process's Channel Access at loopback (variables already set are kept).

    Parameters
    ----------
    server_port
        CA server port to use instead of 5064 (a repeater on ``server_port + 1``), so that
        several simulated stations — or a test run next to a demo — do not answer each
        other's clients. Child processes inherit it, IOCs included.

    Raises
    ------
    RuntimeError
        If the environment must change but this process already has a Channel Access context
        (it would not see the change).
    """
    changes = {
        key: value for key, value in LOOPBACK_CLIENT_ENVIRONMENT.items() if key not in os.environ
    }
    if server_port is not None:
        changes.update(
            {
                key: value
                for key, value in channel_access_ports(server_port).items()
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


def loopback_environment(server_port: int) -> dict[str, str]:
    """This process's environment for a child that serves and uses a station of its own on
    loopback ``server_port`` (set before the child starts: it may import ophyd at once)."""
    return {**LOOPBACK_CLIENT_ENVIRONMENT, **os.environ, **channel_access_ports(server_port)}


def channel_access_ports(server_port: int) -> dict[str, str]:
    """Environment variables that put Channel Access clients and servers on ``server_port``
    (repeater and beacons on ``server_port + 1``)."""
    return {
        "EPICS_CA_SERVER_PORT": str(server_port),
        "EPICS_CAS_SERVER_PORT": str(server_port),
        "EPICS_CA_REPEATER_PORT": str(server_port + 1),
        "EPICS_CAS_BEACON_PORT": str(server_port + 1),
    }
