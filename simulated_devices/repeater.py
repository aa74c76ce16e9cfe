"""A Channel Access repeater for the simulated station's host (``python -m
simulated_devices.repeater``).

A repeater hands the beacons of the IOCs on this host to every CA client on it. caproto's
``caproto-repeater`` registers a client that announces itself with a zero-length datagram but
never confirms it — and a zero-length datagram is how libca (pyepics, so ophyd) registers. libca
then keeps asking and, 50 tries later (≈50 s into any longer session: the demo, a queue-server
worker), prints "CA client library is unable to contact CA repeater". This one confirms both
forms of registration; otherwise it does what every repeater does, on loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
from collections.abc import Sequence

import caproto

#: Largest datagram read.
MAX_DATAGRAM_BYTES = 0xFFFF


def _still_bound(client: tuple[str, int]) -> bool:
    """Whether a client's UDP port is still taken (a client that exited frees it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("", client[1]))
        except OSError:
            return True
        return False


def _forwarded(datagram: bytes, host: str, broadcaster: caproto.Broadcaster) -> bytes:
    """The datagram as clients get it: a beacon that leaves its server's address blank gets
    the address it came from (clients would otherwise take the repeater's)."""
    commands = broadcaster.recv(datagram, (host, 0))
    for command in commands:
        if isinstance(command, caproto.Beacon) and command.header.parameter2 == 0:
            command.header.parameter2 = caproto.ipv4_to_int32(host)
    return b"".join(bytes(command) for command in commands)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Repeat beacons on ``host``:``port`` until interrupted."""
    broadcaster = caproto.Broadcaster(our_role=caproto.SERVER)
    clients: set[tuple[str, int]] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        while True:
            datagram, sender = sock.recvfrom(MAX_DATAGRAM_BYTES)
            try:
                registering = not datagram or any(
                    isinstance(command, caproto.RepeaterRegisterRequest)
                    for command in broadcaster.recv(datagram, sender)
                )
                if registering:
                    clients = {client for client in clients if _still_bound(client)}
                    clients.add(sender)
                    sock.sendto(bytes(caproto.RepeaterConfirmResponse(sender[0])), sender)
                    continue
                message = _forwarded(datagram, sender[0], broadcaster)
            except caproto.CaprotoError:
                continue  # not Channel Access: nothing to repeat
            for client in clients - {sender}:
                try:
                    sock.sendto(message, client)
                except OSError:
                    clients.discard(client)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__)
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("EPICS_CA_REPEATER_PORT", "5065")),
        help="UDP port (default: EPICS_CA_REPEATER_PORT, else 5065)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
