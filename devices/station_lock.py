"""The station's lock on its IOCs (ophyd v1, pyepics): held while a plan runs.

While a client connection holds ``<prefix>station:Lock``, the settings a plan relies on (the
press's feedback gain and switch and its tare, the shutter, the detector's file paths) are
writable over that connection only (docs/pv_conventions.md, "Access security"). The
station's RunEngine stages this device around every plan (`acq.runtime.engine`): one
Channel Access context per process, so the station's own writes pass.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from ophyd import Component as Cpt
from ophyd import Device, EpicsSignal, EpicsSignalRO
from ophyd.utils import ReadOnlyError

#: Timeout of the lock's reads, wall seconds.
READ_TIMEOUT_S = 5.0


class StationLocked(RuntimeError):
    """Another client holds the station's lock (another plan runs)."""


class StationLock(Device):
    """The lock of one station's IOCs (under ``<prefix>station:``).

    ==================  ==============  =================================================
    attribute           PV suffix       meaning
    ==================  ==============  =================================================
    ``held``            ``Lock``        1 while a connection holds it (staged: 1)
    ``owner``           ``LockOwner``   who holds it: ``user@host (address:port)``
    ``tag``             ``LockTag``     written by the holder once it has the lock, read
                                        back to know the lock is its own
    ``error_message``   ``ErrorMsg``    the last write the IOCs' access rules refused
    ==================  ==============  =================================================
    """

    held = Cpt(EpicsSignal, "Lock", kind="omitted", put_complete=True)
    owner = Cpt(EpicsSignalRO, "LockOwner", kind="omitted", string=True, auto_monitor=False)
    tag = Cpt(EpicsSignal, "LockTag", kind="omitted", string=True, put_complete=True)
    error_message = Cpt(EpicsSignalRO, "ErrorMsg", kind="omitted", string=True, auto_monitor=False)

    def __init__(self, prefix: str = "", *, name: str, **kwargs: Any) -> None:
        super().__init__(prefix, name=name, **kwargs)
        self.stage_sigs["held"] = 1

    def stage(self) -> list[object]:
        """Take the lock (unstaging releases it).

        Raises
        ------
        StationLocked
            If another connection holds it, naming who (before anything moves).
        """
        if self.held.get(use_monitor=False, timeout=READ_TIMEOUT_S):
            owner = self.owner.get(use_monitor=False, timeout=READ_TIMEOUT_S)
            raise StationLocked(
                f"{self.name}: the station is locked by {owner or 'another client'} "
                f"(a plan is running there)"
            )
        staged = super().stage()
        # Another connection may have taken the lock between the check and the write: the
        # IOC refuses the write, but pyepics reports a refused put as done and ``Lock`` reads
        # 1 (the other's). Only the holder may write the tag, so reading ours back proves it.
        tag = uuid.uuid4().hex
        # (refused before it is sent, with the IOC's access rights, or not confirmed: see below)
        with contextlib.suppress(ReadOnlyError, TimeoutError):
            self.tag.set(tag).wait(READ_TIMEOUT_S)
        if self.tag.get(use_monitor=False, timeout=READ_TIMEOUT_S) != tag:
            owner = self.owner.get(use_monitor=False, timeout=READ_TIMEOUT_S)
            message = self.error_message.get(use_monitor=False, timeout=READ_TIMEOUT_S)
            self.unstage()  # (its release is refused too: the lock is another's)
            raise StationLocked(
                f"{self.name}: the station is locked by {owner or 'another client'} "
                f"(the IOCs refused the lock: {message})"
            )
        return staged
