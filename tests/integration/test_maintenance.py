from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import IdempotencyKey
from app.services.maintenance import maintenance_service
from tests.factories import record_event


async def test_expired_idempotency_keys_are_forgotten_and_fresh_ones_kept(
    client: AsyncClient,
    auth: dict[str, str],
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    tenant: str,
) -> None:
    old = await record_event(client, auth, idempotency_key="old")
    await record_event(client, auth, idempotency_key="new")
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.tenant_id == tenant, IdempotencyKey.key == "old")
        .values(created_at=datetime.now(UTC) - timedelta(days=8))
    )
    deleted = await maintenance_service.expire_idempotency_keys(
        session_factory, ttl=timedelta(days=7)
    )
    assert deleted >= 1
    keys = await session.scalars(
        select(IdempotencyKey.key).where(IdempotencyKey.tenant_id == tenant)
    )
    assert list(keys) == ["new"]
    # Past its lifetime the key no longer deduplicates: a new event is recorded.
    again = await record_event(client, auth, idempotency_key="old")
    assert again["id"] != old["id"]
    count = await session.scalar(
        select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant)
    )
    assert count == 2
