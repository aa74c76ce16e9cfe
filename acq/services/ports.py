"""Loopback ports for the services: free ones, whether one is taken, and whether a Channel
Access server answers on one.

A free port is one the kernel hands out for port 0 (so two callers never draw the same one
from a shared range); a Channel Access station needs two adjacent ones.
"""

from __future__ import annotations

import random
import socket
import time


def free_tcp_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tcp_port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1 ``port`` now (connections of a server just
    stopped, in TIME_WAIT, do not count: servers bind with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def udp_port_free(port: int) -> bool:
    """Whether nothing is bound to UDP ``port`` on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_channel_access_port(attempts: int = 100) -> int:
    """A port P with UDP P and P + 1 and TCP P free on loopback: a Channel Access server on
    P (repeater and beacons on P + 1) then answers no other station's clients.

    Raises
    ------
    RuntimeError
        If none is found in ``attempts`` tries.
    """
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if (
            port < 65535
            and udp_port_free(port)
            and udp_port_free(port + 1)
            and (tcp_port_free(port))
        ):
            return port
    raise RuntimeError(f"no free Channel Access port pair on loopback after {attempts} tries")


def wait_until_udp_bound(port: int, timeout_s: float = 5.0) -> None:
    """Return once something listens on loopback UDP ``port`` (or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and udp_port_free(port):
        time.sleep(0.05)


def channel_access_answers(pv_name: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether a Channel Access server on loopback ``port`` answers a search for ``pv_name``
    within ``timeout_s``.

    A search of its own, not a client library's: caproto's clients and libca take the port
    from this process's environment (which may be another station's), and a libca client
    would register with the repeater and report a "virtual circuit disconnect" when the
    server stops. caproto is imported here: only simulated stations are probed, and the
    hardware path loads no caproto (`tests/unit/test_hardware_path.py`).
    """
    import caproto

    broadcaster = caproto.Broadcaster(our_role=caproto.CLIENT)
    search_id = random.randint(0, 0xFFFF)
    request = broadcaster.send(
        caproto.VersionRequest(0, caproto.DEFAULT_PROTOCOL_VERSION),
        caproto.SearchRequest(pv_name, search_id, caproto.DEFAULT_PROTOCOL_VERSION),
    )
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(request, ("127.0.0.1", port))
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                datagram, sender = sock.recvfrom(0xFFFF)
            except (TimeoutError, ConnectionRefusedError):
                return False
            try:
                commands = broadcaster.recv(datagram, sender)
            except caproto.CaprotoError:
                continue
            if any(
                isinstance(command, caproto.SearchResponse) and command.cid == search_id
                for command in commands
            ):
                return True
    return False
