"""Reading an IOC's message PV (a char waveform) whole, from a test.

pyepics reads a waveform with the element count of its last monitor update, so a message
longer than the one before arrives cut; caproto's client asks for the current length.
"""

from __future__ import annotations

from caproto.sync.client import read


def read_message(pv: str) -> str:
    """The text of message PV ``pv`` (``ErrorMsg``, ``ERR``…)."""
    data = read(pv, data_count=0, timeout=5, repeater=False).data
    return bytes(data).rstrip(b"\0").decode()
