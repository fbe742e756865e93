from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.ids import new_id
from app.models import Base
from app.schema import alembic_config, include_name
from app.services.partitions import partition_service
from app.settings import Settings, to_asyncpg_dsn, to_sqlalchemy_url
from tests.conftest import _recreate


@pytest.fixture(scope="module")
def scratch_url(settings: Settings) -> str:
    """A second database for migrating up and down without disturbing the test schema."""
    parts = urlsplit(to_asyncpg_dsn(settings.database_url or ""))
    url = urlunsplit(parts._replace(path="/tidings_migrations"))
    _recreate(url)
    return url


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
    return list(compare_metadata(context, Base.metadata))


async def _on(url: str, fn: object) -> object:
    engine = create_async_engine(to_sqlalchemy_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(scratch_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(scratch_url), "head")
    assert await _on(scratch_url, _diff) == []


async def test_downgrade_removes_everything_and_upgrade_restores_it(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.downgrade, config, "base")

    def tables(connection: Connection) -> set[str]:
        rows = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return {r[0] for r in rows} - {"alembic_version"}

    assert await _on(scratch_url, tables) == set()
    await asyncio.to_thread(command.upgrade, config, "head")
    assert {"events", "events_default", "streams", "outbox"} <= await _on(scratch_url, tables)  # type: ignore[operator]


async def test_partitions_are_created_ahead_and_strays_move_out_of_default(
    session: AsyncSession,
) -> None:
    stream_id = new_id()
    await session.execute(text("INSERT INTO tenants (id) VALUES ('part-test')"))
    await session.execute(
        text(
            "INSERT INTO streams (id, tenant_id, slug, name, stream_type) "
            "VALUES (:id, 'part-test', 's', 'S', 'general')"
        ),
        {"id": stream_id},
    )
    stray_at = datetime(2031, 2, 14, 12, tzinfo=UTC)
    await session.execute(
        text(
            "INSERT INTO events (id, occurred_at, tenant_id, stream_id, event_type) "
            "VALUES (:id, :at, 'part-test', :s, 'custom')"
        ),
        {"id": new_id(), "at": stray_at, "s": stream_id},
    )
    where = text("SELECT tableoid::regclass::text FROM events WHERE tenant_id = 'part-test'")
    assert await session.scalar(where) == "events_default"

    months = ["203012", "203101", "203102", "203103", "203104"]  # last month .. 3 ahead
    exists = text("SELECT to_regclass(:name) IS NOT NULL")
    created = await partition_service.ensure_ahead(session, months_ahead=3, today=date(2031, 1, 20))
    # (other tests' committed strays may have months of their own made too)
    assert created["events"] >= 5
    assert created["feed_items"] >= 5
    for table in ("events", "feed_items"):
        for month in months:
            assert await session.scalar(exists, {"name": f"{table}_p{month}"})
    assert await session.scalar(where) == "events_p203102"
    again = await partition_service.ensure_ahead(session, months_ahead=3, today=date(2031, 1, 20))
    assert again == {"events": 0, "feed_items": 0}
    # the moved row kept its generated search vector
    assert (
        await session.scalar(
            text("SELECT count(*) FROM events_default WHERE tenant_id = 'part-test'")
        )
        == 0
    )


async def test_maintenance_gives_backdated_events_their_own_partition(
    session: AsyncSession,
) -> None:
    stream_id = new_id()
    await session.execute(text("INSERT INTO tenants (id) VALUES ('history')"))
    await session.execute(
        text(
            "INSERT INTO streams (id, tenant_id, slug, name, stream_type) "
            "VALUES (:id, 'history', 's', 'S', 'general')"
        ),
        {"id": stream_id},
    )
    await session.execute(
        text(
            "INSERT INTO events (id, occurred_at, tenant_id, stream_id, event_type) "
            "VALUES (:id, '2019-07-04T12:00:00Z', 'history', :s, 'custom')"
        ),
        {"id": new_id(), "s": stream_id},
    )
    exists = text("SELECT to_regclass('events_p201907') IS NOT NULL")
    assert not await session.scalar(exists)
    created = await partition_service.ensure_ahead(session, months_ahead=3)
    assert created["events"] >= 1
    assert await session.scalar(exists)
    where = text("SELECT tableoid::regclass::text FROM events WHERE tenant_id = 'history'")
    assert await session.scalar(where) == "events_p201907"
