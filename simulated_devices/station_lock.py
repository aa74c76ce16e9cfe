"""The station's lock: the PVs of `simulated_devices.access`'s second rule.

Served by `simulated_devices.secured_server`, which decides who takes and releases it.
"""

from __future__ import annotations

from caproto import ChannelType
from caproto.server import pvproperty

from .pvs import ReportingGroup, message_pv


class StationLockIOC(ReportingGroup):
    """The station's lock (under ``<prefix>station:``), held by one client connection.

    =============  ==============================================================
    PV             meaning
    =============  ==============================================================
    ``Lock``       write 1 to take the lock, 0 to release it; 1 while held
    ``LockOwner``  who holds it: ``user@host (address:port)``; empty when free
    ``LockTag``    a text the holder writes once it has the lock (only its connection
                   may), and reads back to know the lock is its own; empty when free
    ``ErrorMsg``   the last write the access rules refused, and why
    =============  ==============================================================

    ``LockTag`` is there because a client cannot tell from ``Lock`` alone that its own
    write took the lock: a write refused because another connection took it first is
    reported to pyepics and ophyd as done, and ``Lock`` then reads 1 (the other's).
    """

    lock = pvproperty(
        name="Lock", value=0, dtype=ChannelType.INT, lower_ctrl_limit=0, upper_ctrl_limit=1
    )
    owner = message_pv("LockOwner", "who holds the lock; empty when free")
    tag = pvproperty(
        name="LockTag", value="", dtype=ChannelType.STRING, doc="the holder's tag; empty when free"
    )
    error_message = message_pv("ErrorMsg", "last write refused by the access rules")
