"""The station's Tiled: where it is, its key, and a client with the station's containers.

A config names a Tiled server (``[tiled] uri`` and ``api_key``) or, with an empty ``uri``,
the embedded one `acq.services` serves on loopback from ``<data_dir>/tiled``, whose key is
kept in ``<data_dir>/tiled/api_key``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tiled.client import from_uri
from tiled.client.container import DEFAULT_STRUCTURE_CLIENT_DISPATCH, Container
from tiled.structures.core import Spec
from tiled.utils import OneShotCachedMap

from ..config import ConfigError, StationConfig

#: The spec that makes a container browsable as a catalog of Bluesky runs.
BLUESKY_CATALOG_SPEC = Spec("CatalogOfBlueskyRuns", version="3.0")
#: Containers of a station's Tiled: raw runs and analysis results.
CONTAINERS = ("raw", "analysis")
#: Environment variable the Tiled client reads its API key from (how a key reaches a child
#: process without appearing on its command line).
TILED_API_KEY_VARIABLE = "TILED_API_KEY"


def embedded_api_key(data_dir: Path) -> str:
    """The embedded server's API key under ``data_dir``, made on first use."""
    return kept_secret(Path(data_dir).resolve() / "tiled" / "api_key", 16)


def kept_secret(path: Path, nbytes: int) -> str:
    """The secret kept in ``path`` (owner-only), a random ``nbytes``-byte hex token made on
    first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(nbytes))
    return path.read_text().strip()


def endpoint(config: StationConfig) -> tuple[str, str]:
    """URI and API key of the config's Tiled: the remote one (its key from ``api_key``, from
    ``api_key_file``, or empty: the client then reads ``$TILED_API_KEY``), or the embedded
    one's.

    Raises
    ------
    ConfigError
        If ``api_key_file`` is missing, empty or readable by others than its owner.
    """
    if config.tiled.uri:
        if config.tiled.api_key_file is not None:
            return config.tiled.uri, key_from_file(config.tiled.api_key_file)
        return config.tiled.uri, config.tiled.api_key
    return (f"http://127.0.0.1:{config.tiled.port}", embedded_api_key(config.station.data_dir))


def key_from_file(path: Path) -> str:
    """The API key kept in ``path``, which only its owner may read (as the embedded server's
    and a deployment's, `kept_secret`).

    Raises
    ------
    ConfigError
        If the file is missing or empty, or others than its owner may read it.
    """
    try:
        mode = path.stat().st_mode
        key = path.read_text().strip()
    except OSError as error:
        raise ConfigError(
            f"tiled.api_key_file {path}: {error.strerror} (is `acq tiled serve` running?)"
        ) from None
    if mode & 0o077:
        raise ConfigError(
            f"tiled.api_key_file {path} is readable by others than its owner (chmod 600 it)"
        )
    if not key:
        raise ConfigError(f"tiled.api_key_file {path} is empty")
    return key


class StructureClients(OneShotCachedMap):
    """tiled's registry of client classes by structure family and spec, which
    ``copy.copy`` copies.

    bluesky-tiled-plugins' ``BlueskyRun.v2``, which databroker's v1 ``Broker`` goes through,
    sets ``"BlueskyRun"`` to its v2 class in ``copy.copy(run.structure_clients)``. tiled's
    ``OneShotCachedMap`` has no ``__copy__``, so that copy shares the mapping of the registry
    every client of the process was made with: after one ``db[uid]``, every run of every
    client reads in the v2 layout (``run["primary"]["pstat_eis_z_real_ohm"]`` a KeyError).
    A copy of this one keeps the change to the copy.
    """

    __slots__ = ()

    @classmethod
    def copy_of(cls, registry: OneShotCachedMap) -> StructureClients:
        """A registry with ``registry``'s entries: its factories, not yet called, and the
        classes they made (tiled keeps either in its private mapping)."""
        copied = cls()
        copied._OneShotCachedMap__mapping = dict(registry._OneShotCachedMap__mapping)
        return copied

    def __copy__(self) -> StructureClients:
        return StructureClients.copy_of(self)


def connect(uri: str, api_key: str | None) -> Container:
    """A client of the Tiled server at ``uri`` with the station containers present, made
    with a registry of client classes of its own (`StructureClients`).

    Creates ``raw`` and ``analysis`` (spec ``CatalogOfBlueskyRuns``) if they do not exist.
    """
    Container.discover_clients_from_entrypoints()  # BlueskyRun & co. into the default's
    registry = StructureClients.copy_of(DEFAULT_STRUCTURE_CLIENT_DISPATCH["numpy"])
    client = from_uri(uri, api_key=api_key or None, structure_clients=registry)
    for name in CONTAINERS:
        if name not in client:
            client.create_container(name, specs=[BLUESKY_CATALOG_SPEC])
    return client
