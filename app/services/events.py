"""Recording events (one, or a batch of up to 1000) and reading them back.

One pipeline serves `add_event`, `POST /api/events/`, the timeline's POST and the batch:
validate every item against its type, claim idempotency keys (a replay stops there),
resolve (or create) the streams, then write events, outbox rows, stream counters and the
activity rollup in one statement.
"""

from __future__ import annotations

import hashlib
import html
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import EventRef, after_commit
from app.enums import Importance, StreamType
from app.errors import Conflict, FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from app.ids import new_id
from app.models import Stream
from app.pagination import Page, PageRequest, page_of
from app.repositories.events import (
    HIGHLIGHT_START,
    HIGHLIGHT_STOP,
    EventFilter,
    EventRepository,
    IdempotencyClaim,
)
from app.repositories.streams import StreamRepository
from app.repositories.users import UserRepository
from app.result import Err, Ok, Result
from app.schemas.events import EventFields
from app.services.event_catalog import render_summary
from app.services.event_types import ResolvedType, event_type_service, unknown_type
from app.services.feeds import feed_service
from app.services.live import live
from app.services.streams import canonical_object_type, stream_service

RecordError = NotFound | Forbidden | ValidationFailed | InvalidState | Conflict
COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class ActorView:
    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True, slots=True)
class EventView:
    id: uuid.UUID
    stream_id: uuid.UUID
    stream: str
    stream_name: str
    object_type: str | None
    object_id: str | None
    event_type: str
    event_type_display: str
    icon: str
    importance: str
    actor: ActorView | None
    summary: str
    description: str
    data: dict[str, Any]
    is_system_generated: bool
    assigned_to: str | None
    status: str | None
    priority: str | None
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SearchHit(EventView):
    rank: float
    headline: str


@dataclass(frozen=True, slots=True)
class Recorded:
    event: EventView
    replayed: bool


@dataclass(frozen=True, slots=True)
class StreamTarget:
    slug: str


@dataclass(frozen=True, slots=True)
class ObjectTarget:
    object_type: str
    object_id: str
    stream_type: StreamType | None = None
    stream_name: str | None = None


Target = StreamTarget | ObjectTarget


@dataclass(slots=True)
class _Prepared:
    """One validated item on its way to the database."""

    index: int
    type: ResolvedType
    row: dict[str, Any]
    key: str | None
    fingerprint: str
    target: Target
    stream: Stream | None = None


def _fingerprint(target: Target, fields: EventFields) -> str:
    """What a retry must repeat exactly for its idempotency key to replay the original."""
    request = {"target": asdict(target), "event": fields.model_dump(mode="json")}
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _highlight(headline: str) -> str:
    """HTML-safe headline with <b> around the matched words."""
    escaped = html.escape(headline, quote=False)
    return escaped.replace(HIGHLIGHT_START, "<b>").replace(HIGHLIGHT_STOP, "</b>")


def _reused(key: str) -> Conflict:
    return Conflict(
        "this idempotency key was already used for a different request",
        {"idempotency_key": key},
    )


@dataclass(frozen=True, slots=True)
class _SameAs:
    """A batch item whose idempotency key repeats an earlier item's in the same batch."""

    index: int


def _view_from_row(row: Row[Any], types: dict[str, ResolvedType]) -> EventView:
    return EventView(**_view_fields(row, types))


def _view_fields(row: Row[Any], types: dict[str, ResolvedType]) -> dict[str, Any]:
    type_ = types.get(row.event_type) or unknown_type(row.event_type)
    actor = (
        ActorView(row.actor_id, row.actor_email, row.actor_first_name, row.actor_last_name)
        if row.actor_id is not None
        else None
    )
    return {
        "id": row.id,
        "stream_id": row.stream_id,
        "stream": row.stream,
        "stream_name": row.stream_name,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "event_type": row.event_type,
        "event_type_display": type_.label,
        "icon": type_.icon,
        "importance": Importance(row.importance).name,
        "actor": actor,
        "summary": row.summary,
        "description": row.description,
        "data": row.data,
        "is_system_generated": row.is_system_generated,
        "assigned_to": row.assigned_to,
        "status": row.status,
        "priority": row.priority,
        "occurred_at": row.occurred_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


class EventService:
    async def record(
        self, session: AsyncSession, *, actor: Principal, target: Target, new: EventFields
    ) -> Result[Recorded, RecordError]:
        result = await self._record_many(session, actor=actor, items=[(target, new)], loc=())
        match result:
            case Ok(data=recorded):
                return Ok(recorded[0])
            case Err() as err:
                return err

    async def record_batch(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        items: Sequence[tuple[Target, EventFields]],
    ) -> Result[list[Recorded], RecordError]:
        """All or nothing: one invalid item fails the batch, naming every bad field."""
        return await self._record_many(session, actor=actor, items=items, loc=("events",))

    async def _record_many(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        items: Sequence[tuple[Target, EventFields]],
        loc: tuple[str | int, ...],
    ) -> Result[list[Recorded], RecordError]:
        types = await event_type_service.resolve(
            session, actor.tenant_id, {fields.event_type for _, fields in items}
        )
        prepared: list[_Prepared] = []
        errors: list[FieldError] = []
        for index, (target, fields) in enumerate(items):
            item_loc = (*loc, index) if loc else ()
            match self._prepare(actor, index, target, fields, types):
                case Ok(data=item):
                    prepared.append(item)
                case Err(error=ValidationFailed() as invalid):
                    errors.extend(invalid.under(*item_loc).errors)
                case Err() as denied:
                    return denied
        if errors:
            return Err(ValidationFailed(message=errors[0].message, errors=tuple(errors)))

        # Keys first: a replay must not create streams or count anything.
        claimed = await self._claim_keys(session, actor.tenant_id, prepared)
        if isinstance(claimed, Err):
            return claimed
        replays = claimed.data
        fresh = [p for p in prepared if p.index not in replays]
        resolved = await self._resolve_streams(session, actor, fresh)
        if isinstance(resolved, Err):
            return resolved
        if fresh:
            streams = {p.row["stream_id"] for p in fresh}
            if len(streams) > 1:
                await StreamRepository(session).lock(sorted(streams))
            await EventRepository(session).insert([p.row for p in fresh])
            await feed_service.deliver(
                session,
                [
                    EventRef(
                        p.row["tenant_id"], p.row["id"], p.row["occurred_at"], p.row["stream_id"]
                    )
                    for p in fresh
                ],
            )
        actors = await self._actors(session, actor, fresh)
        recorded = {p.index: Recorded(self._fresh_view(p, actors), replayed=False) for p in fresh}
        publisher = live(session)
        if publisher is not None and fresh:
            views = [recorded[p.index].event for p in fresh]
            tenant_id = actor.tenant_id

            async def publish() -> None:
                await publisher.events_recorded(tenant_id, views)

            after_commit(session, publish)
        for index, replay in replays.items():
            if isinstance(replay, _SameAs):
                recorded[index] = Recorded(recorded[replay.index].event, replayed=True)
            else:
                recorded[index] = replay
        return Ok([recorded[p.index] for p in prepared])

    def _prepare(
        self,
        actor: Principal,
        index: int,
        target: Target,
        fields: EventFields,
        types: dict[str, ResolvedType],
    ) -> Result[_Prepared, ValidationFailed | Forbidden]:
        type_ = types.get(fields.event_type)
        if type_ is None:
            return Err(
                ValidationFailed.at(
                    ("event_type",), f"unknown event type {fields.event_type!r}", "unknown_type"
                )
            )
        data = fields.payload
        invalid = type_.validate(data)
        if invalid:
            if fields.data is None and fields.metadata is not None:
                invalid = [FieldError(("metadata", *e.loc[1:]), e.message, e.type) for e in invalid]
            return Err(ValidationFailed(message=invalid[0].message, errors=tuple(invalid)))
        if fields.is_system_generated:
            if fields.actor_id is not None:
                return Err(
                    ValidationFailed.at(("actor_id",), "a system-generated event has no actor")
                )
            actor_id = None
        else:
            actor_id = fields.actor_id or actor.user_id
            if actor_id != actor.user_id and not actor.may_act_for_others:
                return Err(Forbidden("only service or admin tokens may record for another user"))
        importance = (
            Importance.parse(fields.importance) if fields.importance else type_.default_importance
        )
        now = datetime.now(UTC)
        row = {
            "id": new_id(),
            "occurred_at": fields.occurred_at or now,
            "created_at": now,
            "tenant_id": actor.tenant_id,
            "event_type": type_.key,
            "importance": int(importance),
            "actor_id": actor_id,
            "summary": fields.summary or render_summary(type_.summary_template, data, type_.label),
            "description": fields.description,
            "data": data,
            "is_system_generated": fields.is_system_generated,
            "assigned_to": fields.assigned_to,
            "status": fields.status,
            "priority": fields.priority,
            "recipients": sorted(set(fields.recipients)) if fields.recipients else None,
        }
        fingerprint = _fingerprint(target, fields) if fields.idempotency_key else ""
        return Ok(_Prepared(index, type_, row, fields.idempotency_key, fingerprint, target))

    async def _resolve_streams(
        self, session: AsyncSession, actor: Principal, prepared: list[_Prepared]
    ) -> Result[None, NotFound | InvalidState]:
        repo = StreamRepository(session)
        by_slug: dict[str, Stream] = {}
        objects = {
            (canonical_object_type(p.target.object_type), p.target.object_id): p.target
            for p in prepared
            if isinstance(p.target, ObjectTarget)
        }
        by_object = await repo.get_for_objects(actor.tenant_id, list(objects))
        # New streams are created in one order so concurrent batches cannot deadlock.
        for key, target in sorted(objects.items()):
            if key not in by_object:
                by_object[key] = await stream_service.get_or_create_for_object(
                    session,
                    actor=actor,
                    object_type=target.object_type,
                    object_id=target.object_id,
                    stream_type=target.stream_type,
                    name=target.stream_name,
                )
        for item in prepared:
            if isinstance(item.target, StreamTarget):
                slug = item.target.slug
                if slug not in by_slug:
                    found = await repo.get_by_slug(actor.tenant_id, slug)
                    if found is None:
                        return Err(NotFound(f"stream {slug!r} not found", {"slug": slug}))
                    by_slug[slug] = found
                stream = by_slug[slug]
            else:
                key = (canonical_object_type(item.target.object_type), item.target.object_id)
                stream = by_object[key]
            if not stream.is_active:
                return Err(
                    InvalidState(f"stream {stream.slug!r} is inactive", {"slug": stream.slug})
                )
            item.stream = stream
            item.row["stream_id"] = stream.id
        return Ok(None)

    async def _claim_keys(
        self, session: AsyncSession, tenant_id: str, prepared: list[_Prepared]
    ) -> Result[dict[int, Recorded | _SameAs], Conflict]:
        """Claims each idempotency key; items whose key was already used become replays
        of the original event (a key repeated inside one batch replays its first use)."""
        first_use: dict[str, _Prepared] = {}
        repeats: list[_Prepared] = []
        for item in prepared:
            if item.key is None:
                continue
            if item.key in first_use:
                repeats.append(item)
            else:
                first_use[item.key] = item
        if not first_use:
            return Ok({})
        repo = EventRepository(session)
        # Claimed in key order: two batches sharing keys wait on each other, never deadlock.
        won = await repo.claim_idempotency_keys(
            tenant_id,
            [
                IdempotencyClaim(key, p.fingerprint, p.row["id"], p.row["occurred_at"])
                for key, p in sorted(first_use.items())
            ],
        )
        lost = [key for key in first_use if key not in won]
        originals = await repo.events_for_keys(tenant_id, lost)
        types = await event_type_service.resolve(
            session, tenant_id, {row.event_type for row in originals.values()}
        )
        replays: dict[int, Recorded | _SameAs] = {}
        for key in lost:
            if key not in originals:
                return Err(
                    Conflict(
                        "this idempotency key was used for an event that no longer exists",
                        {"idempotency_key": key},
                    )
                )
            if originals[key].fingerprint != first_use[key].fingerprint:
                return Err(_reused(key))
            replays[first_use[key].index] = Recorded(
                _view_from_row(originals[key], types), replayed=True
            )
        for item in repeats:
            assert item.key is not None
            original = first_use[item.key]
            if item.fingerprint != original.fingerprint:
                return Err(_reused(item.key))
            # Either a replay of an earlier post, or of the event this batch records.
            replays[item.index] = replays.get(original.index) or _SameAs(original.index)
        return Ok(replays)

    async def _actors(
        self, session: AsyncSession, principal: Principal, items: list[_Prepared]
    ) -> dict[str, ActorView]:
        actors: dict[str, ActorView] = {}
        others = {p.row["actor_id"] for p in items} - {None}
        if principal.email or principal.first_name or principal.last_name:
            # The caller's row was just synced from these claims: no need to read it back.
            actors[principal.user_id] = ActorView(
                principal.user_id, principal.email, principal.first_name, principal.last_name
            )
            others.discard(principal.user_id)
        if others:
            found = await UserRepository(session).get_or_create_many(principal.tenant_id, others)
            for uid, row in found.items():
                actors[uid] = ActorView(uid, row.email, row.first_name, row.last_name)
        return actors

    def _fresh_view(self, item: _Prepared, actors: dict[str, ActorView]) -> EventView:
        row, stream = item.row, item.stream
        assert stream is not None
        created_at: datetime = row["created_at"]
        actor_id = row["actor_id"]
        return EventView(
            id=row["id"],
            stream_id=stream.id,
            stream=stream.slug,
            stream_name=stream.name,
            object_type=stream.object_type,
            object_id=stream.object_id,
            event_type=row["event_type"],
            event_type_display=item.type.label,
            icon=item.type.icon,
            importance=Importance(row["importance"]).name,
            actor=actors.get(actor_id, ActorView(actor_id)) if actor_id else None,
            summary=row["summary"],
            description=row["description"],
            data=row["data"],
            is_system_generated=row["is_system_generated"],
            assigned_to=row["assigned_to"],
            status=row["status"],
            priority=row["priority"],
            occurred_at=row["occurred_at"],
            created_at=created_at,
            updated_at=created_at,
        )

    async def list_for_stream(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        slug: str,
        filters: EventFilter,
        page: PageRequest,
    ) -> Result[Page[EventView], NotFound]:
        stream = await StreamRepository(session).get_by_slug(actor.tenant_id, slug)
        if stream is None:
            return Err(NotFound(f"stream {slug!r} not found", {"slug": slug}))
        return Ok(await self.page(session, actor.tenant_id, stream, filters, page))

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        stream: Stream | None,
        filters: EventFilter,
        page: PageRequest,
        *,
        headlines: bool = False,
        include_archived: bool = False,
    ) -> Page[EventView]:
        """A page of events, newest first, of one stream (or the tenant's, with no stream).

        The total is exact: from the stream's counter when nothing else filters, else
        counted, up to COUNT_CAP + 1 (a larger total reads as "more than COUNT_CAP").
        `include_archived` merges in the archive's events (reporting)."""
        if stream is not None:
            filters = replace(filters, stream_id=stream.id)
        repo = EventRepository(session)
        if include_archived:
            return await self._with_archive(session, tenant_id, filters, page)
        rows = await repo.page(
            tenant_id,
            filters,
            cursor=page.cursor,
            limit=page.page_size,
            offset=page.offset,
            headlines=headlines,
        )
        if stream is not None and filters.only_stream:
            total = stream.event_count
        else:
            total = await repo.count(tenant_id, filters, cap=COUNT_CAP)
        views = await self.views(session, tenant_id, rows)
        return page_of(views, total, page.page_size, lambda v: (v.occurred_at, v.id))

    async def _with_archive(
        self, session: AsyncSession, tenant_id: str, filters: EventFilter, page: PageRequest
    ) -> Page[EventView]:
        """Live and archived events in one newest-first order: each source's first
        (offset + size + 1) rows, merged."""
        repo = EventRepository(session)
        wanted = page.offset + page.page_size + 1
        live = await repo.page(tenant_id, filters, cursor=page.cursor, limit=wanted - 1)
        archived = await repo.archived_page(
            tenant_id, filters, cursor=page.cursor, limit=wanted - 1
        )
        rows = sorted([*live, *archived], key=lambda r: (r.occurred_at, r.id), reverse=True)
        rows = rows[page.offset : page.offset + page.page_size + 1]
        total = await repo.count(tenant_id, filters, cap=COUNT_CAP) + await repo.count_archived(
            tenant_id, filters, cap=COUNT_CAP
        )
        views = await self.views(session, tenant_id, rows)
        return page_of(views, total, page.page_size, lambda v: (v.occurred_at, v.id))

    async def recorded_after(
        self,
        session: AsyncSession,
        tenant_id: str,
        stream_id: uuid.UUID,
        event_id: uuid.UUID,
        *,
        limit: int,
    ) -> list[EventView] | None:
        """What a watcher of the stream missed after `event_id`, in the order recorded, up
        to `limit`; None when `event_id` is no event of this stream."""
        repo = EventRepository(session)
        if not await repo.in_stream(tenant_id, stream_id, event_id):
            return None
        rows = await repo.recorded_after(tenant_id, stream_id, event_id, limit=limit)
        return await self.views(session, tenant_id, rows)

    async def views(
        self, session: AsyncSession, tenant_id: str, rows: Sequence[Row[Any]]
    ) -> list[EventView]:
        """Rows of EVENT_VIEW_COLUMNS as views (a `headline` column becomes a SearchHit)."""
        types = await event_type_service.resolve(session, tenant_id, {r.event_type for r in rows})
        return [
            SearchHit(
                **_view_fields(r, types),
                rank=float(getattr(r, "rank", 0.0)),
                headline=_highlight(r.headline),
            )
            if "headline" in r._fields
            else _view_from_row(r, types)
            for r in rows
        ]

    async def search(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        filters: EventFilter,
        slug: str | None,
        page: PageRequest,
    ) -> Result[Page[EventView], NotFound]:
        """`filters.text` matches, best first, numbered pages."""
        if slug is not None:
            stream = await StreamRepository(session).get_by_slug(actor.tenant_id, slug)
            if stream is None:
                return Err(NotFound(f"stream {slug!r} not found", {"slug": slug}))
            filters = replace(filters, stream_id=stream.id)
        repo = EventRepository(session)
        rows = await repo.search(
            actor.tenant_id,
            filters,
            limit=page.page_size + 1,
            offset=(max(page.page or 1, 1) - 1) * page.page_size,
        )
        total = await repo.count(actor.tenant_id, filters, cap=COUNT_CAP)
        hits = await self.views(session, actor.tenant_id, rows)
        has_more = len(hits) > page.page_size
        return Ok(Page(hits[: page.page_size], total, next_cursor=None, has_more=has_more))


event_service = EventService()
