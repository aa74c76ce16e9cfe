"""A station built and closed beside the session's (an in-process ``acq run``, an IPython
namespace) leaves nothing on the pyepics PVs they share (`acq.beamline.shared_pvs`): each
update runs the session station's callbacks only, however many stations came and went."""

from __future__ import annotations

import threading

from acq.beamline import build_station, connect_station


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


def test_a_station_closed_beside_another_leaves_no_callback_on_their_pvs(station, station_config):
    # The PVs made before: a lazy signal the station makes meanwhile (``EpicsMotor`` makes
    # its ``.TDIR`` when it first moves) has a PV, and callbacks, of its own.
    pvs = _pvs(station)
    before = _callbacks(pvs)
    for _ in range(2):
        other = build_station(station_config)
        connect_station(other)
        assert _callbacks(pvs)["monitor"] > before["monitor"]  # shared
        other.close()
    assert _callbacks(pvs) == before
    updated = threading.Event()  # and the session station's monitors still arrive
    token = station.press.readback.subscribe(lambda **kwargs: updated.set(), run=False)
    try:
        assert updated.wait(10), "no pressure update reached the session station"
    finally:
        station.press.readback.unsubscribe(token)
