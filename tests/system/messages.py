"""Reading an IOC's message PV (a char waveform) whole, and a PV's alarm, from a test.

pyepics reads a waveform with the element count of its last monitor update, so a message
longer than the one before arrives cut; caproto's client asks for the current length. A PV
of its own in pyepics (``epics.PV(...)``) would also share the channel of the session
station's PV of that name, and its ``disconnect()`` (or garbage collection) drops that PV
from pyepics' cache: the next station built makes a second PV on the same channel, and its
``destroy()`` clears the channel under the session station (pyepics then refuses its reads,
"Unexpected channel ID", and clearing its subscription at the end crashes the process).
caproto's client has channels of its own.
"""

from __future__ import annotations

from caproto.sync.client import read


def read_severity(pv: str) -> int:
    """The alarm severity of ``pv`` (0 NO_ALARM … 2 MAJOR, 3 INVALID)."""
    return int(read(pv, data_type="time", timeout=5, repeater=False).metadata.severity)


def read_message(pv: str) -> str:
    """The text of message PV ``pv`` (``ErrorMsg``, ``ERR``…)."""
    data = read(pv, data_count=0, timeout=5, repeater=False).data
    return bytes(data).rstrip(b"\0").decode()
