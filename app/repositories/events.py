from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    and_,
    delete,
    func,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import ColumnClause

from app.models import Event, IdempotencyKey, Outbox, Stream, User
from app.pagination import Cursor
from app.repositories.base import Repository, newest_first

# Private-use characters mark matches so the text can be HTML-escaped before they
# become <b> tags (stored text is not trusted markup).
HIGHLIGHT_START, HIGHLIGHT_STOP = "\ue000", "\ue001"
TS_CONFIG: ColumnClause[Any] = literal_column("'english'::regconfig")

# What every event read returns: the event, where it lives, and who did it.
EVENT_VIEW_COLUMNS = (
    Event.id,
    Event.stream_id,
    Stream.slug.label("stream"),
    Stream.object_type,
    Stream.object_id,
    Event.event_type,
    Event.importance,
    Event.actor_id,
    User.email.label("actor_email"),
    User.first_name.label("actor_first_name"),
    User.last_name.label("actor_last_name"),
    Event.summary,
    Event.description,
    Event.data,
    Event.is_system_generated,
    Event.assigned_to,
    Event.status,
    Event.priority,
    Event.occurred_at,
    Event.created_at,
    func.coalesce(Event.edited_at, Event.created_at).label("updated_at"),
)


def _view(*extra: Any) -> Select[Any]:
    return (
        select(*EVENT_VIEW_COLUMNS, *extra)
        .join(Stream, Stream.id == Event.stream_id)
        .outerjoin(User, and_(User.tenant_id == Event.tenant_id, User.id == Event.actor_id))
    )


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    key: str
    fingerprint: str
    event_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class EventFilter:
    event_types: Sequence[str] = ()
    min_importance: int | None = None
    since: datetime | None = None
    until: datetime | None = None


class EventRepository(Repository):
    async def claim_idempotency_keys(
        self, tenant_id: str, claims: Sequence[IdempotencyClaim]
    ) -> set[str]:
        """Records key -> event for each claim; returns the keys this transaction won.

        A concurrent transaction holding the same key makes this wait for its outcome,
        so two retries of one post can never both record an event.
        """
        if not claims:
            return set()
        stmt = (
            pg_insert(IdempotencyKey)
            .values(
                [
                    {
                        "tenant_id": tenant_id,
                        "key": c.key,
                        "fingerprint": c.fingerprint,
                        "event_id": c.event_id,
                        "event_occurred_at": c.occurred_at,
                    }
                    for c in claims
                ]
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        return set(await self.session.scalars(stmt))

    async def delete_idempotency_keys_before(self, before: datetime, limit: int) -> int:
        """Deletes up to `limit` keys created before `before`; returns how many."""
        doomed = (
            select(IdempotencyKey.tenant_id, IdempotencyKey.key)
            .where(IdempotencyKey.created_at < before)
            .limit(limit)
        )
        result = await self.session.execute(
            delete(IdempotencyKey).where(
                tuple_(IdempotencyKey.tenant_id, IdempotencyKey.key).in_(doomed)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def events_for_keys(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Row[Any]]:
        if not keys:
            return {}
        stmt = (
            _view(IdempotencyKey.key.label("idempotency_key"), IdempotencyKey.fingerprint)
            .join(
                IdempotencyKey,
                and_(
                    IdempotencyKey.tenant_id == Event.tenant_id,
                    IdempotencyKey.event_id == Event.id,
                    IdempotencyKey.event_occurred_at == Event.occurred_at,
                ),
            )
            .where(IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key.in_(list(keys)))
        )
        return {row.idempotency_key: row for row in await self.session.execute(stmt)}

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Inserts events with their outbox rows and bumps their streams' counters, in one
        statement (one round trip).

        Callers lock the streams first (StreamRepository.lock) when a batch spans several.
        """
        events = (
            pg_insert(Event)
            .values(list(rows))
            .returning(Event.id, Event.occurred_at, Event.tenant_id, Event.stream_id)
            .cte("ev")
        )
        outbox = (
            pg_insert(Outbox)
            .from_select(
                ["tenant_id", "event_id", "event_occurred_at", "stream_id"],
                select(events.c.tenant_id, events.c.id, events.c.occurred_at, events.c.stream_id),
            )
            .cte("ob")
        )
        per_stream = (
            select(
                events.c.stream_id,
                func.count().label("n"),
                func.max(events.c.occurred_at).label("latest"),
            )
            .group_by(events.c.stream_id)
            .subquery("per_stream")
        )
        counters = (
            update(Stream)
            .where(Stream.id == per_stream.c.stream_id)
            .values(
                event_count=Stream.event_count + per_stream.c.n,
                last_event_at=func.greatest(Stream.last_event_at, per_stream.c.latest),
            )
            .cte("st")
        )
        stmt = select(func.count()).select_from(events).add_cte(outbox).add_cte(counters)
        await self.session.execute(stmt)

    async def get_view(self, tenant_id: str, event_id: uuid.UUID) -> Row[Any] | None:
        result = await self.session.execute(
            _view().where(Event.tenant_id == tenant_id, Event.id == event_id, ~Event.is_deleted)
        )
        row: Row[Any] | None = result.first()
        return row

    async def get_views(
        self, tenant_id: str, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Row[Any]]:
        if not ids:
            return {}
        result = await self.session.execute(
            _view().where(Event.tenant_id == tenant_id, Event.id.in_(list(ids)))
        )
        return {row.id: row for row in result}

    def _stream_conditions(
        self, tenant_id: str, stream_id: uuid.UUID, filters: EventFilter
    ) -> list[Any]:
        conditions: list[Any] = [
            Event.tenant_id == tenant_id,
            Event.stream_id == stream_id,
            ~Event.is_deleted,
        ]
        if filters.event_types:
            conditions.append(Event.event_type.in_(list(filters.event_types)))
        if filters.min_importance is not None:
            conditions.append(Event.importance >= filters.min_importance)
        if filters.since is not None:
            conditions.append(Event.occurred_at >= filters.since)
        if filters.until is not None:
            conditions.append(Event.occurred_at < filters.until)
        return conditions

    async def stream_page(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        filters: EventFilter,
        *,
        cursor: Cursor | None,
        limit: int,
        offset: int,
    ) -> list[Row[Any]]:
        stmt = newest_first(
            _view().where(*self._stream_conditions(tenant_id, stream_id, filters)),
            Event.occurred_at,
            Event.id,
            cursor=cursor,
            limit=limit,
            offset=offset,
        )
        return list(await self.session.execute(stmt))

    async def stream_count(self, tenant_id: str, stream_id: uuid.UUID, filters: EventFilter) -> int:
        total = await self.session.scalar(
            select(func.count())
            .select_from(Event)
            .where(*self._stream_conditions(tenant_id, stream_id, filters))
        )
        return total or 0

    async def search(
        self,
        tenant_id: str,
        query: str,
        *,
        stream_id: uuid.UUID | None,
        event_types: Sequence[str],
        limit: int,
        offset: int,
    ) -> tuple[list[Row[Any]], int]:
        """Full-text search, best match first; headlines are computed for the page only."""
        tsquery = func.websearch_to_tsquery(TS_CONFIG, query)
        conditions: list[Any] = [
            Event.tenant_id == tenant_id,
            Event.search.op("@@")(tsquery),
            ~Event.is_deleted,
        ]
        if stream_id is not None:
            conditions.append(Event.stream_id == stream_id)
        if event_types:
            conditions.append(Event.event_type.in_(list(event_types)))
        rank = func.ts_rank_cd(Event.search, tsquery).label("rank")
        matches = (
            select(Event.id, Event.occurred_at, rank)
            .where(*conditions)
            .order_by(rank.desc(), Event.occurred_at.desc(), Event.id.desc())
            .limit(limit)
            .offset(offset)
            .subquery("matches")
        )
        # The same text the search vector indexes: summary, description, data's strings.
        data_text = text(
            "array_to_string(ARRAY(SELECT jsonb_path_query(events.data, "
            "'strict $.** ? (@.type() == \"string\")') #>> '{}'), ' ')"
        )
        document = func.concat_ws(
            " — ", Event.summary, func.nullif(Event.description, ""), data_text
        )
        headline = func.ts_headline(
            TS_CONFIG,
            document,
            tsquery,
            text(
                f"'MaxFragments=2, MaxWords=30, MinWords=8, "
                f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}'"
            ),
        ).label("headline")
        stmt = (
            _view(matches.c.rank, headline)
            .join(
                matches,
                and_(matches.c.id == Event.id, matches.c.occurred_at == Event.occurred_at),
            )
            .where(Event.tenant_id == tenant_id)
            .order_by(matches.c.rank.desc(), Event.occurred_at.desc(), Event.id.desc())
        )
        rows = list(await self.session.execute(stmt))
        total = await self.session.scalar(
            select(func.count()).select_from(Event).where(*conditions)
        )
        return rows, total or 0
