"""Engine, session factory and the after-commit hook services use for side effects."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.logging import log
from app.settings import DEFAULT_FANOUT_CHUNK, FanoutMode, Settings

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT_KEY = "tidings.after_commit"
_DELIVERY_KEY = "tidings.delivery"


@dataclass(frozen=True, slots=True)
class EventRef:
    tenant_id: str
    event_id: uuid.UUID
    occurred_at: datetime
    stream_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Delivery:
    """How this session's new events reach feeds: fanned out in the same transaction
    (sync), or handed to the workers after commit (async) through `enqueue`."""

    mode: FanoutMode = FanoutMode.sync
    enqueue: Callable[[Sequence[EventRef]], Awaitable[None]] | None = None
    chunk: int = DEFAULT_FANOUT_CHUNK  # recipients per fan-out statement, in sync mode


def set_delivery(session: AsyncSession, delivery: Delivery) -> None:
    session.info[_DELIVERY_KEY] = delivery


def delivery(session: AsyncSession) -> Delivery:
    found = session.info.get(_DELIVERY_KEY)
    return found if isinstance(found, Delivery) else Delivery()


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        # No pre-ping: with asyncpg it costs round trips on every checkout; a connection
        # the server dropped fails its request once and is replaced.
        "pool_recycle": 1800,
        # Every session ends its transaction (commit, or rollback on close), so the pool
        # need not roll back again on every check-in.
        "pool_reset_on_return": None,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        "connect_args": {"server_settings": {"timezone": "UTC", "application_name": "tidings"}},
    }
    options.update(overrides)
    return create_async_engine(settings.sqlalchemy_url, **options)


async def ping(engine: AsyncEngine) -> None:
    """One round trip to PostgreSQL (readiness)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def after_commit(session: AsyncSession, effect: AfterCommit) -> None:
    """Buffers `effect` (a Redis publish, a job) to run once the transaction has committed.

    Nothing is sent mid-transaction, so a rollback never leaks a notification.
    """
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(effect)


def take_after_commit(session: AsyncSession) -> list[AfterCommit]:
    effects: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
    return effects


def discard_after_commit(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)


@contextlib.asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession],
    prepare: Callable[[AsyncSession], None] | None = None,
) -> AsyncIterator[AsyncSession]:
    """One unit of work: a session whose transaction commits when the block ends (rolls
    back on any exception), then runs the side effects it buffered. `prepare` configures
    the session first (how events are delivered, where live messages go)."""
    async with factory() as session:
        if prepare is not None:
            prepare(session)
        try:
            yield session
            await session.commit()
        except BaseException:
            discard_after_commit(session)
            await session.rollback()
            raise
        effects = take_after_commit(session)
    for effect in effects:
        try:
            await effect()
        except Exception:
            log.exception("after_commit.failed")


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The session's own asyncpg connection, for reads that skip SQLAlchemy's result
    machinery. Statements sent on it join the session's transaction once one has begun on
    the server; before that each runs on its own. Reads only: writes go through the
    session."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    conn = raw.driver_connection
    assert isinstance(conn, asyncpg.Connection)
    return conn


class Reader:
    """Hands out an asyncpg connection for the hot read paths (a feed page, an unread
    count): straight from the engine's pool, with no session and no transaction (each
    statement reads on its own), which costs ~0.03 ms where a session costs ~0.25 ms.

    An app built on a session factory of its own (the tests' rolled-back transaction)
    reads through a session of that factory instead, so it sees what the test wrote."""

    def __init__(
        self,
        engine: AsyncEngine | None = None,
        factory: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        if engine is None and factory is None:
            raise ValueError("a Reader needs an engine or a session factory")
        self._engine = engine
        self._factory = factory

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self._engine is not None:
            raw = await self._engine.raw_connection()
            try:
                conn = raw.driver_connection
                assert isinstance(conn, asyncpg.Connection)
                yield conn
            finally:
                raw.close()
            return
        assert self._factory is not None
        async with self._factory() as session:
            yield await driver(session)
