"""The simulated station's Channel Access repeater confirms libca's registration (a
zero-length datagram, which caproto-repeater leaves unanswered, so libca warns after 50 tries)
and caproto's (a RepeaterRegisterRequest)."""

from __future__ import annotations

import os
import socket

import caproto
import pytest

CONFIRM = 17  # REPEATER_CONFIRM


@pytest.mark.parametrize(
    "registration",
    [b"", bytes(caproto.RepeaterRegisterRequest("127.0.0.1"))],
    ids=["libca (zero-length)", "caproto"],
)
def test_the_repeater_confirms_a_registration(simulated_station, registration):
    port = int(os.environ["EPICS_CA_REPEATER_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2.0)
        client.bind(("127.0.0.1", 0))
        client.sendto(registration, ("127.0.0.1", port))
        while True:  # beacons may come first
            reply, sender = client.recvfrom(0xFFFF)
            if int.from_bytes(reply[:2], "big") == CONFIRM:
                break
    assert sender == ("127.0.0.1", port)
