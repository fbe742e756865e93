from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.models import EventType
from app.repositories.base import Repository


class EventTypeRepository(Repository):
    async def get(self, tenant_id: str, key: str) -> EventType | None:
        return await self.session.scalar(
            select(EventType).where(EventType.tenant_id == tenant_id, EventType.key == key)
        )

    async def get_many(self, tenant_id: str, keys: list[str]) -> dict[str, EventType]:
        if not keys:
            return {}
        result = await self.session.scalars(
            select(EventType).where(EventType.tenant_id == tenant_id, EventType.key.in_(keys))
        )
        return {t.key: t for t in result}

    async def all(self, tenant_id: str) -> list[EventType]:
        result = await self.session.scalars(
            select(EventType).where(EventType.tenant_id == tenant_id).order_by(EventType.key)
        )
        return list(result)

    async def insert(self, values: dict[str, object]) -> EventType | None:
        """None when the tenant already has a type with this key."""
        stmt = pg_insert(EventType).values(**values).on_conflict_do_nothing().returning(EventType)
        return (await self.session.scalars(stmt)).one_or_none()
