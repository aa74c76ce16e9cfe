"""The station's Tiled: where it is, its key, and a client with the station's containers.

A config names a Tiled server (``[tiled] uri`` and ``api_key``) or, with an empty ``uri``,
the embedded one `acq.services` serves on loopback from ``<data_dir>/tiled``, whose key is
kept in ``<data_dir>/tiled/api_key``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tiled.client import from_uri
from tiled.client.container import Container
from tiled.structures.core import Spec

from ..config import StationConfig

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
    """URI and API key of the config's Tiled: the remote one, or the embedded one's."""
    if config.tiled.uri:
        return config.tiled.uri, config.tiled.api_key
    return (f"http://127.0.0.1:{config.tiled.port}", embedded_api_key(config.station.data_dir))


def connect(uri: str, api_key: str | None) -> Container:
    """A client of the Tiled server at ``uri`` with the station containers present.

    Creates ``raw`` and ``analysis`` (spec ``CatalogOfBlueskyRuns``) if they do not exist.
    """
    client = from_uri(uri, api_key=api_key or None)
    for name in CONTAINERS:
        if name not in client:
            client.create_container(name, specs=[BLUESKY_CATALOG_SPEC])
    return client
