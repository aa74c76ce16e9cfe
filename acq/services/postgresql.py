"""A Tiled deployment's PostgreSQL database: reached, created if missing, and its catalog
initialised once.

Tiled's servers are told never to initialise the catalog (``init_if_not_exists: false``):
several of them starting at once would each run ``tiled catalog init --if-not-exists`` and
race to create the same tables. Here `prepare_database` runs Tiled's own ``tiled catalog
init`` once, before any server starts, under a PostgreSQL advisory lock (so two deployments
started on one database at once do not race either), and only for a database that has no
catalog yet (its ``alembic_version`` table, which that command stamps, is missing).

asyncpg is the driver Tiled's catalog itself uses (``postgresql+asyncpg://``); like libpq it
reads a password from ``PGPASSWORD`` or ``~/.pgpass``, never from the config.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from .child import ServiceError

#: Wall seconds to reach PostgreSQL before saying it cannot be reached.
CONNECT_TIMEOUT_S = 5.0
#: Wall seconds `tiled catalog init` may take (imports included, on a loaded machine).
INIT_TIMEOUT_S = 120.0
#: Advisory-lock key under which a deployment initialises its catalog (any constant: the
#: lock is per database).
INIT_LOCK_KEY = 0x7469_6C65_6400
#: Connections PostgreSQL keeps for others (psql, a backup) beyond the deployment's pools.
SPARE_CONNECTIONS = 10


@dataclass(frozen=True)
class Prepared:
    """What `prepare_database` did: whether it created the database and initialised the
    catalog (both False for a deployment started again on its database)."""

    created: bool
    initialised: bool


def database_uri(server_uri: str, database: str, driver: str = "") -> str:
    """The URI of ``database`` on the server of ``server_uri`` (``postgresql+DRIVER://`` with
    a ``driver``)."""
    parts = urlsplit(server_uri)
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return f"{scheme}://{parts.netloc}/{database}"


def _where(server_uri: str) -> str:
    parts = urlsplit(server_uri)
    return f"{parts.hostname}:{parts.port or 5432}"


def prepare_database(
    server_uri: str, database: str, connections_needed: int, log_path: Path
) -> Prepared:
    """Reach PostgreSQL, create ``database`` if missing and initialise its catalog once.

    Parameters
    ----------
    server_uri
        ``postgresql://user@host:port`` (no database, no password).
    database
        The deployment's database (an identifier: ``[a-z_][a-z0-9_]*``).
    connections_needed
        Connections the deployment's servers may open at most (their pools).
    log_path
        File ``tiled catalog init``'s output is appended to.

    Raises
    ------
    ServiceError
        In one line: PostgreSQL cannot be reached or refuses, allows too few connections,
        or the catalog cannot be initialised.
    """
    try:
        return asyncio.run(_prepare(server_uri, database, connections_needed, log_path))
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        why = str(error) or type(error).__name__
        raise ServiceError(
            f"cannot use PostgreSQL at {_where(server_uri)} (database {database}): {why}"
        ) from None


async def _prepare(
    server_uri: str, database: str, connections_needed: int, log_path: Path
) -> Prepared:
    server = await asyncpg.connect(database_uri(server_uri, "postgres"), timeout=CONNECT_TIMEOUT_S)
    try:
        allowed = int(await server.fetchval("SHOW max_connections"))
        if connections_needed + SPARE_CONNECTIONS > allowed:
            raise ServiceError(
                f"PostgreSQL at {_where(server_uri)} allows {allowed} connections; the "
                f"deployment's servers may open {connections_needed} (+{SPARE_CONNECTIONS} "
                f"spare): lower [tiled.deployment] servers or raise max_connections"
            )
        created = False
        if not await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            try:  # the name is an identifier (the config's pattern): safe to quote as one
                await server.execute(f'CREATE DATABASE "{database}"')
                created = True
            except asyncpg.DuplicateDatabaseError:  # another deployment created it meanwhile
                pass
    finally:
        await server.close()
    catalog = await asyncpg.connect(database_uri(server_uri, database), timeout=CONNECT_TIMEOUT_S)
    try:
        await catalog.execute("SELECT pg_advisory_lock($1)", INIT_LOCK_KEY)
        initialised = False
        if await catalog.fetchval("SELECT to_regclass('public.alembic_version')") is None:
            # A subprocess, as Tiled's own `init_if_not_exists` does: Alembic's stamping is
            # synchronous and runs its own event loop.
            await asyncio.to_thread(_tiled_catalog_init, server_uri, database, log_path)
            initialised = True
        await catalog.execute("SELECT pg_advisory_unlock($1)", INIT_LOCK_KEY)
    finally:
        await catalog.close()
    return Prepared(created, initialised)


def _tiled_catalog_init(server_uri: str, database: str, log_path: Path) -> None:
    """``tiled catalog init URI`` (its URI holds no password: the config refuses one)."""
    # Owner-only, as every service log (`acq.services.child.ChildService.launch`).
    descriptor = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a") as log:
        done = subprocess.run(
            [sys.executable, "-m", "tiled", "catalog", "init", database_uri(server_uri, database)],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=INIT_TIMEOUT_S,
        )
    if done.returncode != 0:
        raise ServiceError(
            f"`tiled catalog init` of database {database} exited with status "
            f"{done.returncode} (log {log_path})"
        )


def drop_database(server_uri: str, database: str) -> None:
    """Drop ``database`` (closing its other connections first), if it exists: what a test or
    a benchmark that made a deployment of its own leaves behind."""

    async def drop() -> None:
        server = await asyncpg.connect(
            database_uri(server_uri, "postgres"), timeout=CONNECT_TIMEOUT_S
        )
        try:
            await server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await server.close()

    asyncio.run(drop())
