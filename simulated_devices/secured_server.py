"""A caproto server that applies a station's access rules (`simulated_devices.access`).

caproto asks a channel's ``ChannelData.check_access(hostname, username)`` for its rights when
the channel is created and again at every write. The station's lock also depends on the
connection (which client holds it), which ``check_access`` is not told, and a lock taken or
released changes rights of channels already open; so the rules are applied where caproto
calls ``check_access``, in the server's circuit, with the connection at hand:

- a channel is created with the rights `StationAccess.rights` gives (an
  ``AccessRightsResponse``, as caproto sends);
- a write the rules refuse is answered ``ECA_NOWTACCESS`` and reported in
  ``<prefix>station:ErrorMsg``;
- when the lock is taken, released or its connection closes, every open channel of a locked
  PV is told its new rights (an ``AccessRightsResponse``, as an EPICS IOC does when an ASG's
  ``INP`` changes), so libca, pyepics and ophyd refuse the write before sending it;
- when the lock's holder disconnects holding it (a plan's process killed, a queue worker's
  environment destroyed), the station is put in its safe state: the context's
  ``on_holder_lost`` writes are made (the potentiostat's ``STOP``: the cell at open circuit;
  the press keeps holding its setpoint), as an ``OUT`` link from the lock record would on an
  EPICS IOC.

It also keeps one client from stopping every other client's monitors, as an EPICS IOC (rsrv
serves each client from its own queue) never lets it:

- caproto's server hands every circuit its monitor updates from one loop, for all clients,
  and drops a circuit's backlog when its queue is full; but the asyncio server's queue makes
  that loop *wait* instead. A client that stops reading (``Ctrl-Z`` on an IPython session, a
  process stopped in a debugger) filled its queue within seconds of image updates and from
  then on no client had a monitor update: a press move never saw its pressure settle, a new
  device's first monitor never came. Here a full queue is dropped (caproto's own "Critically
  high EventAddResponse load" warning, in the IOC's log) and the others go on;
- a circuit whose update loop ended while it is still connected (an error sending) is closed,
  with the error in the IOC's log, instead of silently keeping its channels and no monitors:
  the client reconnects and subscribes again, as it does after an IOC restart;
- the rights sent to every client when the lock changes wait at most `SEND_TIMEOUT_S` for a
  client that does not read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import caproto as ca
from caproto import AccessRights, ChannelData
from caproto.asyncio.server import Context, VirtualCircuit

from .access import Client, StationAccess
from .station_lock import StationLockIOC

#: How long a message to one client (new access rights) may wait for it to read, s.
SEND_TIMEOUT_S = 1.0


class UpdateBacklog(asyncio.Queue):
    """A circuit's queue of monitor updates that never makes the server wait.

    caproto's server loop puts every update with ``await circuit.subscription_queue.put(…)``
    and handles ``QueueFull`` by clearing the circuit's backlog (the slow client misses
    updates, the others do not); `asyncio.Queue.put` would wait for room instead, stopping
    that loop, and so every client's monitors, for as long as one client does not read.
    """

    async def put(self, item) -> None:
        self.put_nowait(item)  # QueueFull when full: caproto drops this circuit's backlog

    def clear(self) -> None:
        """Drop everything queued (caproto's call on ``QueueFull``)."""
        while not self.empty():
            self.get_nowait()


class SecuredCircuit(VirtualCircuit):
    """A server circuit that applies the context's `StationAccess` (see the module)."""

    context: SecuredContext

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.subscription_queue = UpdateBacklog(ca.MAX_TOTAL_SUBSCRIPTION_BACKLOG)

    async def run(self) -> None:
        await super().run()
        if self._sub_task is not None:
            self._sub_task.add_done_callback(self._update_loop_ended)

    def _update_loop_ended(self, task: asyncio.Task) -> None:
        if task.cancelled() or not self.connected:  # the connection closed: caproto's ending
            return
        self.log.error(
            "monitor updates to %s stopped (%r): closing its connection; it will reconnect",
            self.peer,
            task.exception(),
            exc_info=task.exception(),
        )
        self.client.close()  # the command loop then sees the connection closed and cleans up

    @property
    def peer(self) -> Client:
        """This connection as the access rules see it."""
        host, port = self.circuit.address
        return Client(self.client_username, self.client_hostname, (host, port))

    async def _on_disconnect(self):
        # The lock is released here, first: caproto calls this from whichever of the
        # circuit's loops meets the closed connection, and when it is the subscription loop
        # (a client gone while updates were being sent to it) the rest of caproto's handling
        # is cut short (the loop cancels its own task) and `SecuredContext.circuit_disconnected`
        # is never called: the lock would stay held by a connection that no longer exists.
        await self.context.connection_closed(self)
        await super()._on_disconnect()

    async def _process_command(self, command):
        if isinstance(command, ca.CreateChanRequest):
            to_send = await super()._process_command(command)
            try:
                entry = self.context[command.name]
            except KeyError:
                return to_send
            return [
                ca.AccessRightsResponse(
                    cid=message.cid, access_rights=self.context.rights(entry, self.peer)
                )
                if isinstance(message, ca.AccessRightsResponse)
                else message
                for message in to_send
            ]
        if isinstance(command, (ca.WriteRequest, ca.WriteNotifyRequest)):
            chan, entry = self._get_db_entry_from_command(command)
            why = self._refusal(entry, command)
            if why is not None:
                await self.context.report(f"{chan.name}: write by {self.peer} refused: {why}")
                return [
                    ca.ErrorResponse(
                        command, chan.cid, status=ca.CAStatus.ECA_NOWTACCESS, error_message=why
                    )
                ]
            to_send = await super()._process_command(command)
            if entry is self.context.lock.lock:
                await self.context.lock_changed()
            return to_send
        return await super()._process_command(command)

    def _refusal(self, entry, command) -> str | None:
        """Why the rules refuse this write, or None (taking or releasing the lock here, with
        no await in between: no other write can interleave)."""
        client = self.peer
        access = self.context.access
        if AccessRights.WRITE not in self.context.rights(entry, client):
            return access.refusal(entry, client)
        if entry is self.context.lock.lock and command.data[0] in (0, 1):
            return access.take(client) if command.data[0] else access.release(client)
        if entry is self.context.lock.tag and not access.holds(client):
            return f"only the lock's holder tags it (lock held by {access.holder or 'nobody'})"
        return None  # (a Lock value other than 0 or 1 is refused by its control limits)


class SecuredContext(Context):
    """caproto's asyncio server, applying ``access`` to every client.

    Parameters
    ----------
    pvdb
        The PV database, including ``lock``'s PVs.
    access
        The station's rules.
    lock
        The group serving the lock.
    interfaces
        Where to listen.
    on_holder_lost
        The writes (PV, value) that put the station in its safe state when the lock's holder
        disconnects holding it.
    """

    CircuitClass = SecuredCircuit

    def __init__(
        self,
        pvdb: dict,
        access: StationAccess,
        lock: StationLockIOC,
        interfaces: list[str],
        on_holder_lost: Sequence[tuple[ChannelData, object]] = (),
    ) -> None:
        super().__init__(pvdb, interfaces)
        self.access = access
        self.lock = lock
        self.on_holder_lost = list(on_holder_lost)

    def rights(self, entry, client: Client) -> AccessRights:
        """``client``'s rights on ``entry``: caproto's own, narrowed by the rules."""
        base = entry.check_access(client.host, client.user)
        return self.access.rights(entry, client, base)

    async def report(self, message: str) -> None:
        """Publish a refused write in the lock group's ``ErrorMsg``."""
        self.log.warning(message)
        await self.lock.report(message)

    async def lock_changed(self) -> None:
        """Publish the lock's state and tell every client the rights it now has."""
        holder = self.access.holder
        await self.lock.lock.write(int(holder is not None), verify_value=False)
        await self.lock.owner.write("" if holder is None else str(holder))
        if holder is None:
            await self.lock.tag.write("", verify_value=False)
        for circuit in list(self.circuits):
            if not isinstance(circuit, SecuredCircuit) or not circuit.connected:
                continue
            updates = []
            for chan in list(circuit.circuit.channels.values()):
                if chan.states[ca.SERVER] is not ca.CONNECTED:
                    continue
                try:
                    entry = self[chan.name]
                except KeyError:
                    continue
                if entry in self.access.locked:
                    rights = self.rights(entry, circuit.peer)
                    updates.append(ca.AccessRightsResponse(cid=chan.cid, access_rights=rights))
            if updates:
                try:
                    await asyncio.wait_for(circuit.send(*updates), SEND_TIMEOUT_S)
                except TimeoutError:  # still queued on its connection, for when it reads
                    self.log.warning(
                        "access rights to %s wait: it has not read for %g s",
                        circuit.peer,
                        SEND_TIMEOUT_S,
                    )
                except Exception as error:  # a client gone meanwhile: its circuit closes
                    self.log.info("access rights not sent to %s: %s", circuit.peer, error)

    async def circuit_disconnected(self, circuit) -> None:
        await super().circuit_disconnected(circuit)
        await self.connection_closed(circuit)

    async def connection_closed(self, circuit: SecuredCircuit) -> None:
        """``circuit``'s connection has closed: if it held the lock, make the station safe
        (`on_holder_lost`) and release the lock (once, however often it is told)."""
        if self.access.disconnected(circuit.circuit.address):
            for entry, value in self.on_holder_lost:  # the putter runs (STOP: the cell off)
                await entry.write(value)
            await self.report(
                f"lock released: its holder {circuit.peer} disconnected; station made safe"
            )
            await self.lock_changed()


def serve(
    pvdb: dict,
    access: StationAccess,
    lock: StationLockIOC,
    interfaces: list[str],
    on_holder_lost: Sequence[tuple[ChannelData, object]] = (),
) -> None:
    """Serve ``pvdb`` under ``access`` until interrupted (as `caproto.asyncio.server.run`);
    the arguments are `SecuredContext`'s."""

    async def run() -> None:  # caproto's context is made in the loop it runs in
        await SecuredContext(pvdb, access, lock, interfaces, on_holder_lost).run()

    with contextlib.suppress(KeyboardInterrupt):  # as caproto's run
        asyncio.run(run())
