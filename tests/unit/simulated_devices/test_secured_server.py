"""The station's caproto server (`simulated_devices.secured_server`) with no client: the
circuit's update backlog, what becomes of a circuit whose update loop failed, and the lock
released with the station made safe when its holder's connection fails under an update."""

from __future__ import annotations

import asyncio
import logging

import caproto as ca
import pytest

from conventions.pv_states import Switch
from simulated_devices.access import StationAccess
from simulated_devices.secured_server import SecuredCircuit, SecuredContext, UpdateBacklog
from simulated_devices.station import StationOptions, build_station
from simulated_devices.station_lock import StationLockIOC


def test_a_full_backlog_refuses_at_once_and_clears():
    async def scenario() -> None:
        backlog = UpdateBacklog(2)
        await backlog.put(1)
        await backlog.put(2)
        with pytest.raises(asyncio.QueueFull):  # caproto then drops this circuit's backlog
            await asyncio.wait_for(backlog.put(3), timeout=1)
        backlog.clear()
        assert backlog.empty()
        await backlog.put(4)
        assert await backlog.get() == 4

    asyncio.run(scenario())


class _Connection:
    """The transport a circuit sends on, as far as these tests need one."""

    def __init__(self) -> None:
        self.closed = False

    def getsockname(self):
        return ("127.0.0.1", 5064)

    def close(self) -> None:
        self.closed = True


async def _circuit() -> tuple[SecuredCircuit, _Connection]:
    lock = StationLockIOC(prefix="T:station:")
    context = SecuredContext(lock.pvdb, StationAccess([], locked=()), lock, ["127.0.0.1"])
    connection = _Connection()
    circuit = ca.VirtualCircuit(ca.SERVER, ("127.0.0.1", 40001), None)
    return SecuredCircuit(circuit, connection, context), connection


async def _failed(error: Exception) -> asyncio.Task:
    async def loop() -> None:
        raise error

    task = asyncio.ensure_future(loop())
    await asyncio.wait([task])
    return task


def test_a_connected_circuit_whose_update_loop_failed_is_closed_saying_why(caplog):
    async def scenario() -> _Connection:
        circuit, connection = await _circuit()
        circuit._update_loop_ended(await _failed(ca.LocalProtocolError("bad state")))
        return connection

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(scenario()).closed
    assert "monitor updates to" in caplog.text and "bad state" in caplog.text


def test_a_loop_ended_by_its_connection_closing_is_left_to_caproto():
    async def scenario() -> tuple[_Connection, _Connection]:
        disconnected, first = await _circuit()
        disconnected.connected = False
        disconnected._update_loop_ended(await _failed(RuntimeError("closed")))
        cancelled, second = await _circuit()
        task = asyncio.ensure_future(asyncio.sleep(10))
        task.cancel()
        await asyncio.wait([task])
        cancelled._update_loop_ended(task)
        return first, second

    assert not any(connection.closed for connection in asyncio.run(scenario()))


class _GoneConnection(_Connection):
    """The transport of a client that has gone: every send fails."""

    async def send(self, data: bytes) -> None:
        raise OSError("Connection reset by peer")


def test_a_lock_holder_gone_under_a_monitor_update_leaves_the_lock_free_and_the_cell_off():
    # caproto's subscription loop meets the closed connection: it calls `_on_disconnect` and
    # cancels itself, so `SecuredContext.circuit_disconnected` is never called.
    async def scenario() -> tuple[StationAccess, dict, bool]:
        _, pvdb = build_station(StationOptions(prefix="U:"))
        access = StationAccess([], locked=())
        stop = pvdb["U:pstat:STOP"]
        context = SecuredContext(
            pvdb, access, pvdb["U:station:Lock"].group, ["127.0.0.1"], on_holder_lost=[(stop, 1)]
        )
        circuit = SecuredCircuit(
            ca.VirtualCircuit(ca.SERVER, ("127.0.0.1", 40001), None), _GoneConnection(), context
        )
        circuit.client_username, circuit.client_hostname = "operator", "localhost"
        assert access.take(circuit.peer) is None  # as its write of Lock=1 takes it
        await context.lock_changed()
        await stop.group.cell_on.write(Switch.ON)  # as a technique's START leaves it
        await circuit.run()  # its command and update loops
        update = ca.EventAddResponse([0], ca.ChannelType.INT, 1, 1, subscriptionid=1)
        await circuit.subscription_queue.put(lambda: update)
        for _ in range(500):  # at most 5 s
            if not circuit.connected:
                break
            await asyncio.sleep(0.01)
        await circuit.tasks.cancel_all(wait=True)
        return access, pvdb, circuit.connected

    access, pvdb, connected = asyncio.run(scenario())
    assert not connected
    assert access.holder is None
    assert pvdb["U:station:Lock"].value == 0 and pvdb["U:station:LockOwner"].value == ""
    assert pvdb["U:pstat:CELL"].value == Switch.OFF
    assert pvdb["U:station:ErrorMsg"].value == (
        "lock released: its holder operator@localhost (127.0.0.1:40001) disconnected; "
        "station made safe"
    )
