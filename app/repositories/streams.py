from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.models import Stream
from app.pagination import Cursor
from app.repositories.base import Repository, newest_first

# Streams of (object type, object id) pairs, built once: every event recorded resolves
# its stream through it, and building the join anew cost more than running it.
_PAIRS = select(
    func.unnest(bindparam("types", type_=ARRAY(String))).label("object_type"),
    func.unnest(bindparam("ids", type_=ARRAY(String))).label("object_id"),
).subquery()
_FOR_OBJECTS = (
    select(Stream)
    .join(
        _PAIRS,
        (Stream.object_type == _PAIRS.c.object_type) & (Stream.object_id == _PAIRS.c.object_id),
    )
    .where(Stream.tenant_id == bindparam("tenant_id"))
)


@dataclass(frozen=True, slots=True)
class StreamFilter:
    stream_type: str | None = None
    is_active: bool | None = None
    object_type: str | None = None
    object_id: str | None = None


class StreamRepository(Repository):
    async def get_by_slug(self, tenant_id: str, slug: str) -> Stream | None:
        return await self.session.scalar(
            select(Stream).where(Stream.tenant_id == tenant_id, Stream.slug == slug)
        )

    async def get(self, tenant_id: str, stream_id: uuid.UUID) -> Stream | None:
        return await self.session.scalar(
            select(Stream).where(Stream.tenant_id == tenant_id, Stream.id == stream_id)
        )

    async def get_for_object(
        self, tenant_id: str, object_type: str, object_id: str
    ) -> Stream | None:
        return await self.session.scalar(
            select(Stream).where(
                Stream.tenant_id == tenant_id,
                Stream.object_type == object_type,
                Stream.object_id == object_id,
            )
        )

    async def get_for_objects(
        self, tenant_id: str, objects: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Stream]:
        if not objects:
            return {}
        params = {
            "tenant_id": tenant_id,
            "types": [t for t, _ in objects],
            "ids": [i for _, i in objects],
        }
        result = await self.session.scalars(_FOR_OBJECTS, params)
        return {(s.object_type or "", s.object_id or ""): s for s in result}

    async def insert(self, values: dict[str, object]) -> Stream | None:
        """Inserts a stream; None when its slug or object is already taken (a race or a
        collision the caller resolves)."""
        stmt = pg_insert(Stream).values(**values).on_conflict_do_nothing().returning(Stream)
        result = await self.session.scalars(stmt, execution_options={"populate_existing": True})
        return result.one_or_none()

    async def slugs(self, tenant_id: str, stream_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not stream_ids:
            return {}
        result = await self.session.execute(
            select(Stream.id, Stream.slug).where(
                Stream.tenant_id == tenant_id, Stream.id.in_(list(set(stream_ids)))
            )
        )
        return dict(result.all())

    async def slug_taken(self, tenant_id: str, slug: str) -> bool:
        found = await self.session.scalar(
            select(Stream.id).where(Stream.tenant_id == tenant_id, Stream.slug == slug)
        )
        return found is not None

    async def lock(self, stream_ids: Sequence[uuid.UUID]) -> None:
        """Locks streams in id order so concurrent batches never deadlock on counters."""
        await self.session.execute(
            select(Stream.id)
            .where(Stream.id.in_(sorted(set(stream_ids))))
            .order_by(Stream.id)
            .with_for_update(key_share=True)
        )

    async def page(
        self,
        tenant_id: str,
        filters: StreamFilter,
        *,
        cursor: Cursor | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Stream], int]:
        conditions = [Stream.tenant_id == tenant_id]
        if filters.stream_type is not None:
            conditions.append(Stream.stream_type == filters.stream_type)
        if filters.is_active is not None:
            conditions.append(Stream.is_active == filters.is_active)
        if filters.object_type is not None:
            conditions.append(Stream.object_type == filters.object_type)
        if filters.object_id is not None:
            conditions.append(Stream.object_id == filters.object_id)
        stmt = newest_first(
            select(Stream).where(*conditions),
            Stream.created_at,
            Stream.id,
            cursor=cursor,
            limit=limit,
            offset=offset,
        )
        rows = list(await self.session.scalars(stmt))
        total = await self.session.scalar(
            select(func.count()).select_from(Stream).where(*conditions)
        )
        return rows, total or 0
