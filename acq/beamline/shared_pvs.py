"""Letting go of the pyepics PVs a closed station shares with another station of the process.

pyepics hands out one ``PV`` per name to every ophyd signal of a process (``epics.get_pv``'s
cache), and ophyd's ``EpicsSignalBase.destroy`` lets go of it only when no signal uses it
any more (its reference count reaches 0: callbacks cleared, channel closed). While another
signal still uses it, the destroyed signal's callbacks stay on the PV — its monitor callback,
its connection and access-rights callbacks — and run at every update for the rest of the
process (ophyd issue #981, open). A process that builds and closes stations beside one that
stays (an in-process ``acq run`` or IPython namespace beside the test session's station, an
IPython session rebuilding its namespace) then does the work of every station it ever built
on each monitor update; in the system tier press moves slowed tenfold, and the IOC's backlog
for the process grew until it was dropped.

`acq.beamline.station.close_devices` detaches every signal once the callbacks under way have
run (one may have made a lazy signal meanwhile: a motor's ``.TDIR`` as a move ends).
`detach` removes exactly the signal's own callbacks, by what ophyd registered: the index
``add_callback`` returned (``signal._monitors``) and the bound methods ophyd gave
``get_pv`` (``_pv_connected``, ``_pv_access_callback`` and their write-PV counterparts),
which pyepics appends as given for a cached PV, and ophyd's dispatcher wraps
(``functools.wraps``: ``__wrapped__``) for a new one.
"""

from __future__ import annotations

from typing import Any

from ophyd.signal import EpicsSignalBase


def detach(signal: EpicsSignalBase) -> None:
    """Remove ``signal``'s callbacks from the PVs it shares with other signals, before
    ``signal.destroy()``; a PV only it uses is left to ophyd's ``destroy``, which clears it."""
    monitors: dict[str, Any] = getattr(signal, "_monitors", {})
    pvs = {id(pv): pv for pv in _pvs_of(signal)}.values()
    for pv in pvs:
        if getattr(pv, "_reference_count", 0) <= 1:
            continue
        index = monitors.get(pv.pvname)
        if index is not None:
            pv.remove_callback(index)
            monitors[pv.pvname] = None
        pv.connection_callbacks = [
            callback for callback in pv.connection_callbacks if owner(callback) is not signal
        ]
        pv.access_callbacks = [
            callback for callback in pv.access_callbacks if owner(callback) is not signal
        ]


def _pvs_of(signal: EpicsSignalBase) -> list[Any]:
    return [
        pv
        for pv in (getattr(signal, "_read_pv", None), getattr(signal, "_write_pv", None))
        if pv is not None
    ]


def owner(callback: Any) -> object:
    """The object a callback is a bound method of, through ophyd's dispatcher wrapper."""
    return getattr(getattr(callback, "__wrapped__", callback), "__self__", None)
