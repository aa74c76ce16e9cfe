"""A station built and closed beside the session's (an in-process ``acq run``, an IPython
namespace) leaves nothing on the pyepics PVs they share (`acq.beamline.shared_pvs`): each
update runs the session station's callbacks only, however many stations came and went."""

from __future__ import annotations

import threading

from acq.beamline import build_station, connect_station
from acq.beamline.shared_pvs import owner


def _pvs(station) -> list:
    """The pyepics PVs of the station's signals made so far."""
    pvs = {}
    for device in station.connectable().values():
        for walk in device.walk_signals():
            for attribute in ("_read_pv", "_write_pv"):
                pv = getattr(walk.item, attribute, None)
                if pv is not None:
                    pvs[id(pv)] = pv
    return list(pvs.values())


def _callbacks(pvs) -> dict[str, int]:
    """Monitor, connection and access-rights callbacks on ``pvs``, in total."""
    return {
        "monitor": sum(len(pv.callbacks) for pv in pvs),
        "connection": sum(len(pv.connection_callbacks) for pv in pvs),
        "access": sum(len(pv.access_callbacks) for pv in pvs),
    }


def _left_behind(pvs, closed) -> list[str]:
    """The callbacks on ``pvs`` bound to a signal of the ``closed`` station, named."""
    signals = {
        id(walk.item): walk.item.name
        for device in closed.connectable().values()
        for walk in device.walk_signals()
    }
    left = []
    for pv in pvs:
        callbacks = [entry[0] for entry in pv.callbacks.values()]
        for kind, found in (
            ("monitor", callbacks),
            ("connection", pv.connection_callbacks),
            ("access", pv.access_callbacks),
        ):
            left += [
                f"{signals[id(owner(cb))]} ({pv.pvname}, {kind})"
                for cb in found
                if id(owner(cb)) in signals
            ]
    return left


def test_a_station_closed_beside_another_leaves_no_callback_on_their_pvs(station, station_config):
    # The PVs made before: a lazy signal the station makes meanwhile has a PV of its own.
    pvs = _pvs(station)
    before = _callbacks(pvs)
    for _ in range(2):
        other = build_station(station_config)
        connect_station(other)
        assert _callbacks(pvs)["monitor"] > before["monitor"]  # shared
        other.close()
        assert not _left_behind(pvs, other)
    updated = threading.Event()  # and the session station's monitors still arrive
    token = station.press.readback.subscribe(lambda **kwargs: updated.set(), run=False)
    try:
        assert updated.wait(10), "no pressure update reached the session station"
    finally:
        station.press.readback.unsubscribe(token)
