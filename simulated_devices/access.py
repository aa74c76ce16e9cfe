"""Channel Access security of a simulated station, in the manner of an EPICS access security
group (ASG): who may write, and what a stray client may not write while a plan runs.

Two rules, evaluated for every channel when it is created and for every write
(`simulated_devices.secured_server` applies them):

1. **Writers** (an ASG's UAG and HAG): only a client matching a ``"user@host"`` pattern
   (`fnmatch`-style) may write anything; every other client reads. The host ``localhost``
   is checked on the connection's address (a loopback peer), not on the name the client
   gives, as EPICS's ``asCheckClientIP``; any other host pattern matches the name the
   client gives or its address. By default the only writer is the user running the IOCs,
   on this machine.
2. **The station's lock** (an ASG rule with an ``INP`` on a busy PV): a writer takes the
   lock by writing 1 to ``<prefix>station:Lock`` (the station does so on stage, 0 on
   unstage). While it is held, the settings a plan relies on (each IOC's
   ``locked_while_busy``: feedback gain and on/off, tare, shutter, file paths) are writable
   over the lock holder's own connection only; every other client, the same user's
   included, reads them. The lock goes with its connection: when the station's process
   ends, it is released.

Channel Access names users and hosts as the clients declare them: this keeps honest clients
from mistakes, it is not authentication (the IOCs listen on loopback only).
"""

from __future__ import annotations

import getpass
import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from caproto import AccessRights

#: Host patterns checked on the connection's address (a loopback peer) rather than the name.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Client:
    """One Channel Access connection, as the server sees it.

    Parameters
    ----------
    user, host
        The user and host names the client declared (None until it has).
    address
        The connection's peer (IP address, port): one per client process and server.
    """

    user: str | None
    host: str | None
    address: tuple[str, int]

    @property
    def on_loopback(self) -> bool:
        """Whether the connection comes from this machine's loopback."""
        try:
            return ipaddress.ip_address(self.address[0]).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"{self.user}@{self.host} ({self.address[0]}:{self.address[1]})"


def check_writer_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is ``"user@host"`` with both parts non-empty.

    Raises
    ------
    ValueError
        Naming the pattern, otherwise.
    """
    user, at, host = pattern.partition("@")
    if not (at and user.strip() and host.strip()) or any(c.isspace() for c in pattern):
        raise ValueError(f"writer {pattern!r} is not 'user@host' (patterns like '*' allowed)")
    return pattern


def default_writers() -> tuple[str, ...]:
    """The writers when none are configured: the user running the IOCs, on this machine."""
    return (f"{getpass.getuser()}@localhost",)


def matches(pattern: str, client: Client) -> bool:
    """Whether ``client`` is the writer ``pattern`` names."""
    user_pattern, _, host_pattern = pattern.partition("@")
    if not fnmatchcase(client.user or "", user_pattern):
        return False
    if host_pattern in LOOPBACK_HOSTS:
        return client.on_loopback
    return fnmatchcase(client.host or "", host_pattern) or fnmatchcase(
        client.address[0], host_pattern
    )


class StationAccess:
    """The access rules of one station's IOCs and the state of its lock.

    Parameters
    ----------
    writers
        ``"user@host"`` patterns of the clients that may write; `default_writers` if empty.
    locked
        The channels (caproto ``ChannelData``) a stray client may not write while the lock
        is held.
    """

    def __init__(self, writers: Sequence[str], locked: Collection[object]) -> None:
        self.writers = tuple(check_writer_pattern(w) for w in writers) or default_writers()
        self.locked = locked
        #: The connection holding the lock, if any.
        self.holder: Client | None = None

    def holds(self, client: Client) -> bool:
        """Whether ``client``'s connection holds the lock."""
        return self.holder is not None and self.holder.address == client.address

    def _lock_allows(self, client: Client) -> bool:
        """Whether the lock is free or held over ``client``'s connection."""
        return self.holder is None or self.holder.address == client.address

    def may_write(self, client: Client) -> bool:
        """Rule 1: whether ``client`` is one of the writers."""
        return any(matches(pattern, client) for pattern in self.writers)

    def rights(self, channel: object, client: Client, base: AccessRights) -> AccessRights:
        """The rights of ``client`` on ``channel``, given caproto's own ``base`` rights of
        the channel (READ alone for a read-only PV).

        Returns
        -------
        AccessRights
            ``base`` for a writer not barred by the lock, ``base`` without WRITE otherwise.
        """
        if not self.may_write(client) or (
            channel in self.locked and not self._lock_allows(client)
        ):
            return base & AccessRights.READ
        return base

    def refusal(self, channel: object, client: Client) -> str:
        """Why ``client`` may not write ``channel`` (for a client `rights` refuses)."""
        if not self.may_write(client):
            return f"{client} is not a writer of this station ({', '.join(self.writers)})"
        return f"locked while the station runs a plan (lock held by {self.holder})"

    def take(self, client: Client) -> str | None:
        """``client`` takes the lock (again, if it holds it); why not, if it may not."""
        if not self._lock_allows(client):
            return f"lock held by {self.holder}"
        self.holder = client
        return None

    def release(self, client: Client) -> str | None:
        """``client`` releases the lock (a free lock stays free); why not, if it may not."""
        if not self._lock_allows(client):
            return f"lock held by {self.holder}"
        self.holder = None
        return None

    def disconnected(self, address: tuple[str, int]) -> bool:
        """The connection at ``address`` has closed: release its lock; whether it held it."""
        if self.holder is not None and self.holder.address == address:
            self.holder = None
            return True
        return False
