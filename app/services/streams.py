"""Streams: creation with unique slugs, lookup, listing and get_or_create_for_object."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from slugify import slugify
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.enums import StreamType
from app.errors import Conflict, Forbidden, NotFound
from app.ids import new_id
from app.models import Stream
from app.pagination import Page, PageRequest, page_of
from app.repositories.streams import StreamFilter, StreamRepository
from app.result import Err, Ok, Result
from app.schemas.streams import StreamChange, StreamCreate

SLUG_ATTEMPTS = 6
CRM_OBJECTS = frozenset({"lead", "account", "contact", "deal", "opportunity", "activity"})


def canonical_object_type(object_type: str) -> str:
    """Seed 004 names CRM objects `crm.lead` where seed 001 says `lead`: both name the
    same object, stored in the qualified form."""
    if "." not in object_type and object_type.lower() in CRM_OBJECTS:
        return f"crm.{object_type.lower()}"
    return object_type


def guess_stream_type(object_type: str) -> StreamType:
    base = object_type.lower()
    if base.startswith("crm.") or base in CRM_OBJECTS:
        return StreamType.crm
    try:
        return StreamType(base.rsplit(".", 1)[-1])
    except ValueError:
        return StreamType.general


def _slug_candidates(base: str) -> list[str]:
    root = slugify(base, max_length=80, word_boundary=False) or "stream"
    return [root] + [f"{root}-{secrets.token_hex(3)}" for _ in range(SLUG_ATTEMPTS - 1)]


class StreamService:
    async def get(
        self, session: AsyncSession, *, actor: Principal, slug: str
    ) -> Result[Stream, NotFound]:
        stream = await StreamRepository(session).get_by_slug(actor.tenant_id, slug)
        if stream is None:
            return Err(NotFound(f"stream {slug!r} not found", {"slug": slug}))
        return Ok(stream)

    async def list_page(
        self, session: AsyncSession, *, actor: Principal, filters: StreamFilter, page: PageRequest
    ) -> Result[Page[Stream], NotFound]:
        if filters.object_type is not None:
            filters = replace(filters, object_type=canonical_object_type(filters.object_type))
        rows, total = await StreamRepository(session).page(
            actor.tenant_id, filters, cursor=page.cursor, limit=page.page_size, offset=page.offset
        )
        return Ok(page_of(rows, total, page.page_size, lambda s: (s.created_at, s.id)))

    async def create(
        self, session: AsyncSession, *, actor: Principal, new: StreamCreate
    ) -> Result[Stream, Conflict]:
        repo = StreamRepository(session)
        object_type = canonical_object_type(new.object_type) if new.object_type else None
        if object_type is not None and new.object_id is not None:
            existing = await repo.get_for_object(actor.tenant_id, object_type, new.object_id)
            if existing is not None:
                return Err(Conflict("this object already has a stream", {"slug": existing.slug}))
        if new.slug is not None and await repo.slug_taken(actor.tenant_id, new.slug):
            return Err(Conflict(f"slug {new.slug!r} is taken", {"slug": new.slug}))
        candidates = [new.slug] if new.slug else _slug_candidates(new.name)
        stream = await self._insert(
            repo,
            candidates,
            tenant_id=actor.tenant_id,
            name=new.name,
            description=new.description,
            stream_type=new.stream_type,
            object_type=object_type,
            object_id=new.object_id,
            is_active=new.is_active,
            created_by=actor.user_id,
        )
        if stream is None:
            return Err(Conflict("the slug or object was taken concurrently; retry"))
        return Ok(stream)

    async def update(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        stream_id: uuid.UUID,
        changes: StreamChange,
    ) -> Result[Stream, NotFound | Forbidden]:
        """An admin renames, describes, deactivates or reactivates a stream (its slug and
        object stay: clients address it by them)."""
        if not actor.is_admin:
            return Err(Forbidden("streams are changed by admins"))
        stream = await StreamRepository(session).get(actor.tenant_id, stream_id)
        if stream is None:
            return Err(NotFound(f"stream {stream_id} not found", {"id": str(stream_id)}))
        for name in changes.model_fields_set:
            value = getattr(changes, name)
            if value is not None:
                setattr(stream, name, value)
        stream.updated_at = datetime.now(UTC)
        await session.flush()
        return Ok(stream)

    async def get_or_create_for_object(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        object_type: str,
        object_id: str,
        stream_type: StreamType | None = None,
        name: str | None = None,
    ) -> Stream:
        """The object's stream, created on first use (seed 000's entry point)."""
        object_type = canonical_object_type(object_type)
        repo = StreamRepository(session)
        stream = await repo.get_for_object(actor.tenant_id, object_type, object_id)
        if stream is not None:
            return stream
        label = name or f"{object_type} {object_id}"
        created = await self._insert(
            repo,
            _slug_candidates(f"{object_type}-{object_id}"),
            tenant_id=actor.tenant_id,
            name=label[:300],
            description="",
            stream_type=stream_type or guess_stream_type(object_type),
            object_type=object_type,
            object_id=object_id,
            is_active=True,
            created_by=actor.user_id,
        )
        if created is not None:
            return created
        raced = await repo.get_for_object(actor.tenant_id, object_type, object_id)
        if raced is None:  # pragma: no cover - six random slugs all taken
            raise RuntimeError("could not allocate a stream slug")
        return raced

    async def _insert(
        self, repo: StreamRepository, candidates: list[str], **values: object
    ) -> Stream | None:
        """Tries slug candidates until one is free; None if the object got a stream
        concurrently (or every candidate was taken)."""
        tenant_id = str(values["tenant_id"])
        for slug in candidates:
            stream = await repo.insert({"id": new_id(), "slug": slug, **values})
            if stream is not None:
                return stream
            object_type, object_id = values.get("object_type"), values.get("object_id")
            if isinstance(object_type, str) and isinstance(object_id, str):
                if await repo.get_for_object(tenant_id, object_type, object_id) is not None:
                    return None
        return None


stream_service = StreamService()
