"""Channel Access security of the simulated IOCs (`simulated_devices.access`), over real CA:
another user reads but never writes; while the station holds its lock, a stray client of the
same user cannot write the settings a plan relies on, and the station still can."""

from __future__ import annotations

import subprocess
import sys
import time

import epics
import pytest
from caproto import AccessRights
from caproto.threading.client import Context
from ophyd.device import Staged

from conventions.pv_states import Shutter
from devices.station_lock import StationLocked
from tests.system.messages import read_message

#: Wall seconds for an update to reach a client (generous: the host is shared).
ARRIVE_S = 10.0


def _pv(station, group: str, suffix: str) -> str:
    return station.config.station.prefix + group + suffix


def _lock_pv(station, suffix: str = "Lock") -> str:
    return _pv(station, "station:", suffix)


def _wait_for(predicate) -> None:
    deadline = time.monotonic() + ARRIVE_S
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def _text(pv) -> str:
    return bytes(pv.read(data_type="native").data).rstrip(b"\0").decode()


@pytest.fixture
def client():
    """A caproto client context of this user, made for one test (its own connection)."""
    context = Context()
    yield context
    context.disconnect()


@pytest.fixture
def intruder():
    """A caproto client context claiming another user name."""
    context = Context(client_name="intruder")
    yield context
    context.disconnect()


def test_another_user_reads_but_cannot_write(station, intruder):
    setpoint_name = _pv(station, station.config.press.prefix, "fb.VAL")
    setpoint, message = intruder.get_pvs(setpoint_name, _lock_pv(station, "ErrorMsg"))
    setpoint.wait_for_connection(timeout=ARRIVE_S)
    assert setpoint.access_rights == AccessRights.READ
    before = setpoint.read().data[0]
    setpoint.write([before + 1.0], wait=False)
    # Refused at once, in order on this connection: the next read sees the report.
    assert "intruder@" in _text(message) and "is not a writer" in _text(message)
    assert epics.caget(setpoint_name, use_monitor=False) == before


def test_lock_keeps_a_stray_client_out_and_lets_the_station_write(station, client):
    shutter_name = _pv(station, station.config.tomography.prefix, "Shutter")
    gain_name = _pv(station, station.config.press.prefix, "fb.KI")
    shutter, gain, lock, message = client.get_pvs(
        shutter_name, gain_name, _lock_pv(station), _lock_pv(station, "ErrorMsg")
    )
    for pv in (shutter, gain, lock):
        pv.wait_for_connection(timeout=ARRIVE_S)
    assert AccessRights.WRITE in shutter.access_rights  # a writer, before the lock

    epics.caput(_lock_pv(station), 1, wait=True, timeout=5)
    try:
        # Rights of channels already open change as the lock is taken (as an ASG's INP).
        _wait_for(lambda: shutter.access_rights == AccessRights.READ)
        assert gain.access_rights == AccessRights.READ
        assert AccessRights.WRITE in lock.access_rights  # the lock itself, refused below
        owner = epics.caget(_lock_pv(station, "LockOwner"), as_string=True, use_monitor=False)
        assert "127.0.0.1:" in owner

        # The station's own connection still writes them.
        station.tomo_stage.shutter.set(Shutter.OPEN).wait(timeout=10)
        station.tomo_stage.shutter.set(Shutter.CLOSED).wait(timeout=10)

        # The stray client, the same user, cannot: not the settings, not the lock.
        shutter.write([1], wait=False)  # Open
        assert "locked while the station runs a plan" in _text(message)
        lock.write([0], wait=False)
        assert "lock held by" in _text(message)
        assert lock.read().data[0] == 1
        assert shutter.read(data_type="native").data[0] == 0  # Closed

        # Nor can a new process, which pyepics (libca) refuses before sending anything.
        stray = subprocess.run(
            [
                sys.executable,
                "-c",
                "import epics, sys\n"
                f"pv = epics.PV({gain_name!r}); pv.wait_for_connection(5)\n"
                "print(pv.write_access)\n"
                "try:\n    pv.put(0.9, wait=True, timeout=5)\n"
                "except Exception as error:\n    print(type(error).__name__, error)\n",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = stray.stdout.splitlines()
        assert lines[0] == "False", stray.stdout + stray.stderr
        assert len(lines) > 1, "pyepics sent the put"
        assert epics.caget(gain_name, use_monitor=False) == 0.5
    finally:
        epics.caput(_lock_pv(station), 0, wait=True, timeout=5)
    _wait_for(lambda: AccessRights.WRITE in shutter.access_rights)
    assert epics.caget(_lock_pv(station, "LockOwner"), as_string=True, use_monitor=False) == ""


def test_lock_goes_with_its_holder(station, client):
    """A station that ends (or crashes) does not leave the IOCs locked."""
    holder = Context()
    try:
        lock = holder.get_pvs(_lock_pv(station))[0]
        lock.wait_for_connection(timeout=ARRIVE_S)
        lock.write([1], wait=True, timeout=5)
        tare = client.get_pvs(_pv(station, station.config.press.prefix, "TareCmd"))[0]
        tare.wait_for_connection(timeout=ARRIVE_S)
        _wait_for(lambda: tare.access_rights == AccessRights.READ)
        # Neither may the station (another connection) take the lock while it is held.
        epics.caput(_lock_pv(station), 1, wait=True, timeout=5)
        assert "lock held by" in read_message(_lock_pv(station, "ErrorMsg"))
    finally:
        holder.disconnect()
    _wait_for(lambda: epics.caget(_lock_pv(station), use_monitor=False) == 0)
    _wait_for(lambda: AccessRights.WRITE in tare.access_rights)
    assert "disconnected" in read_message(_lock_pv(station, "ErrorMsg"))


def test_a_lock_taken_between_the_check_and_the_write_is_not_taken_for_ours(
    station, client, monkeypatch
):
    """Another connection takes the lock after `StationLock.stage` found it free and before
    its own write: the IOC refuses that write, which pyepics reports as done, and ``Lock``
    reads 1 (the other's); the tag only the holder may write tells the station it is not."""
    lock = station.lock
    taken = client.get_pvs(_lock_pv(station))[0]
    taken.wait_for_connection(timeout=ARRIVE_S)
    taken.write([1], wait=True, timeout=5)
    try:
        _wait_for(lambda: lock.held.get(use_monitor=False) == 1)
        reads = []
        read_held = lock.held.get

        def free_when_checked(*args, **kwargs):
            reads.append(1)
            return 0 if len(reads) == 1 else read_held(*args, **kwargs)

        monkeypatch.setattr(lock.held, "get", free_when_checked)
        with pytest.raises(StationLocked, match="locked by"):
            lock.stage()
        monkeypatch.undo()
        assert lock._staged == Staged.no
        assert lock.held.get(use_monitor=False) == 1  # still the other's
    finally:
        taken.write([0], wait=True, timeout=5)
    _wait_for(lambda: lock.held.get(use_monitor=False) == 0)
    lock.stage()  # free again: the station takes it, and its tag reads back
    assert lock.tag.get(use_monitor=False)
    lock.unstage()
    assert lock.held.get(use_monitor=False) == 0 and lock.tag.get(use_monitor=False) == ""
