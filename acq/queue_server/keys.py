"""The queue server's keys, each kept in an owner-only file under ``<data_dir>/queue``.

- ``api_key``: bluesky-httpserver's single-user API key (HTTP clients send it in an
  ``Authorization: ApiKey …`` header);
- ``zmq_private_key`` and ``zmq_public_key``: the CurveZMQ key pair of the RE Manager's 0MQ
  control socket. The manager reads the private key from
  ``$QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER``; every client (``qserver``,
  bluesky-queueserver-api's `REManagerAPI`, bluesky-httpserver) from
  ``$QSERVER_ZMQ_PUBLIC_KEY``. A client without the public key gets no answer. The public key
  is kept owner-only as well: on this station, knowing it is what lets a local process control
  the queue.

Keys reach the processes through their environment (readable by their owner only), never
their command line, and are never printed: ``acq queue`` names the files instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bluesky_queueserver import generate_zmq_keys, generate_zmq_public_key

from ..runtime.tiled_client import kept_secret

#: Environment variable bluesky-httpserver reads its single-user API key from.
API_KEY_VARIABLE = "QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY"
#: Environment variable start-re-manager reads its 0MQ private key from.
ZMQ_PRIVATE_KEY_VARIABLE = "QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER"
#: Environment variable the 0MQ clients (qserver, REManagerAPI, the HTTP server) read the
#: manager's public key from.
ZMQ_PUBLIC_KEY_VARIABLE = "QSERVER_ZMQ_PUBLIC_KEY"


def without_keys(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` without the queue server's keys: each process gets only its own."""
    keys = (API_KEY_VARIABLE, ZMQ_PRIVATE_KEY_VARIABLE, ZMQ_PUBLIC_KEY_VARIABLE)
    return {name: value for name, value in environment.items() if name not in keys}


def keys_directory(data_dir: Path) -> Path:
    """``<data_dir>/queue``, made owner-only."""
    directory = Path(data_dir).resolve() / "queue"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


def http_api_key(data_dir: Path) -> str:
    """The HTTP server's single-user API key: ``$QSERVER_HTTP_SERVER_SINGLE_USER_API_KEY``
    if set, else one made once and kept in ``<data_dir>/queue/api_key``."""
    if os.environ.get(API_KEY_VARIABLE):
        return os.environ[API_KEY_VARIABLE]
    return kept_secret(keys_directory(data_dir) / "api_key", 32)


@dataclass(frozen=True)
class ZmqKeyPair:
    """The RE Manager's CurveZMQ key pair (Z85 text) and the file clients read the public
    key from."""

    public: str
    private: str
    public_key_path: Path


def zmq_key_pair(data_dir: Path) -> ZmqKeyPair:
    """The station's 0MQ key pair, made with the queue server's `generate_zmq_keys` on first
    use and kept in ``<data_dir>/queue/zmq_private_key`` and ``zmq_public_key``."""
    directory = keys_directory(data_dir)
    private_path = directory / "zmq_private_key"
    public_path = directory / "zmq_public_key"
    if not private_path.exists():
        _, private = generate_zmq_keys()
        _write_owner_only(private_path, private)
    private = private_path.read_text().strip()
    public = generate_zmq_public_key(private)
    if not public_path.exists() or public_path.read_text().strip() != public:
        _write_owner_only(public_path, public)
    return ZmqKeyPair(public=public, private=private, public_key_path=public_path)


def _write_owner_only(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")
