"""Small pvproperty factories shared by the simulated IOCs."""

from __future__ import annotations

from caproto import ChannelType
from caproto.server import pvproperty

#: Length of message PVs, characters (longer than a 40-character EPICS string).
MESSAGE_LENGTH = 256


def message_pv(name: str, doc: str = "") -> pvproperty:
    """A read-only long-string (char waveform) PV for status and error messages."""
    return pvproperty(
        name=name,
        value="",
        dtype=ChannelType.CHAR,
        max_length=MESSAGE_LENGTH,
        string_encoding="utf-8",
        read_only=True,
        doc=doc,
    )
