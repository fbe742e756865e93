from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    SmallInteger,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import ColumnClause

from app.models import Event, IdempotencyKey, Outbox, Stream, Subscription, User
from app.models.retention import events_archive
from app.pagination import Cursor
from app.repositories.activities import pick_shard, rollup_upsert
from app.repositories.base import Repository, cast_table, newest_first

# Private-use characters mark matches so the text can be HTML-escaped before they
# become <b> tags (stored text is not trusted markup).
HIGHLIGHT_START, HIGHLIGHT_STOP = "\ue000", "\ue001"
SEARCH_WINDOW = 1000
TS_CONFIG: ColumnClause[Any] = literal_column("'english'::regconfig")


# What every event read returns: the event, where it lives, and who did it. `cols` is the
# events table's columns (the ORM class) or its archive's (`events_archive.c`).
def _view_columns(cols: Any = Event) -> tuple[Any, ...]:
    return (
        cols.id,
        cols.stream_id,
        Stream.slug.label("stream"),
        Stream.name.label("stream_name"),
        Stream.object_type,
        Stream.object_id,
        cols.event_type,
        cols.importance,
        cols.actor_id,
        User.email.label("actor_email"),
        User.first_name.label("actor_first_name"),
        User.last_name.label("actor_last_name"),
        cols.summary,
        cols.description,
        cols.data,
        cols.is_system_generated,
        cols.assigned_to,
        cols.status,
        cols.priority,
        cols.occurred_at,
        cols.created_at,
        func.coalesce(cols.edited_at, cols.created_at).label("updated_at"),
    )


EVENT_VIEW_COLUMNS = _view_columns()


def _view(*extra: Any, cols: Any = Event) -> Select[Any]:
    return (
        select(*_view_columns(cols), *extra)
        .join(Stream, Stream.id == cols.stream_id)
        .outerjoin(User, and_(User.tenant_id == cols.tenant_id, User.id == cols.actor_id))
    )


def _insert_events_statement() -> Select[Any]:
    """events + outbox + stream counters + rollup from per-column arrays (see insert())."""
    columns = cast_table(Event).c
    source = (
        func.unnest(
            *(
                bindparam(
                    f"ev_{name}", type_=ARRAY(Text if name in _AS_JSON else columns[name].type)
                )
                for name in _INSERT_COLUMNS
            )
        )
        .table_valued(*_INSERT_COLUMNS)
        .render_derived(name="src")
    )
    # JSON columns travel as text: an array of arrays would not unnest row by row.
    as_json = {
        "data": cast(source.c.data, JSONB),
        "recipients": literal_column(
            "(SELECT array_agg(r) FROM jsonb_array_elements_text(src.recipients::jsonb) AS r)"
        ),
    }
    values = [as_json.get(name, source.c[name]) for name in _INSERT_COLUMNS]
    events = (
        pg_insert(Event)
        .from_select(list(_INSERT_COLUMNS), select(*values))
        .returning(
            Event.id,
            Event.occurred_at,
            Event.tenant_id,
            Event.stream_id,
            Event.event_type,
            Event.status,
            Event.assigned_to,
            Event.actor_id,
        )
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
    return (
        select(func.count())
        .select_from(events)
        .add_cte(outbox)
        .add_cte(counters)
        .add_cte(rollup_upsert(events, bindparam("shard", type_=SmallInteger)))
    )


def _claim_keys_statement() -> Any:
    columns = cast_table(IdempotencyKey).c
    names = ("key", "fingerprint", "event_id", "event_occurred_at")
    params = ("keys", "fingerprints", "event_ids", "occurred")
    source = (
        func.unnest(
            *(
                bindparam(param, type_=ARRAY(columns[name].type))
                for name, param in zip(names, params, strict=True)
            )
        )
        .table_valued(*names)
        .render_derived(name="src")
    )
    tenant = bindparam("tenant_id", type_=columns["tenant_id"].type)
    # Core (the table, not the class): the ORM would take the parameters as bulk rows.
    table = cast_table(IdempotencyKey)
    return (
        pg_insert(table)
        .from_select(["tenant_id", *names], select(tenant, *(source.c[n] for n in names)))
        .on_conflict_do_nothing()
        .returning(table.c.key)
    )


_CLAIM_KEYS = _claim_keys_statement()
_INSERT_COLUMNS = (
    "id",
    "occurred_at",
    "created_at",
    "tenant_id",
    "stream_id",
    "event_type",
    "importance",
    "actor_id",
    "summary",
    "description",
    "data",
    "is_system_generated",
    "assigned_to",
    "status",
    "priority",
    "recipients",
)
_AS_JSON = frozenset({"data", "recipients"})
_INSERT_EVENTS = _insert_events_statement()


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    key: str
    fingerprint: str
    event_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Every way a list of events narrows; unset fields do not filter."""

    stream_id: uuid.UUID | None = None
    object_type: str | None = None
    object_id: str | None = None
    event_types: Sequence[str] = ()
    min_importance: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    assigned_to: str | None = None
    status: str | None = None
    priority: str | None = None
    text: str | None = None
    subscriber: str | None = None  # only streams this user follows, at their min importance

    @property
    def only_stream(self) -> bool:
        """Nothing narrows the list but the stream (so its counter is the total)."""
        return not any(
            getattr(self, name) for name in self.__dataclass_fields__ if name != "stream_id"
        )

    @property
    def touches_stream(self) -> bool:
        return self.object_type is not None or self.object_id is not None


def text_query(query: str) -> ColumnElement[Any]:
    """Web-search syntax (stemmed words, "phrases", -exclusions, or) with every word also
    matching as a prefix, so a user still typing ("follo") finds "follow-up".

    The stemmed query's lexemes get `:*` appended and are parsed with the `simple`
    configuration, so they are not stemmed twice; the GIN index serves prefixes too."""
    stemmed = cast(func.websearch_to_tsquery(TS_CONFIG, query), Text)
    prefixed = func.regexp_replace(stemmed, "'(?:[^']|'')+'", "\\&:*", "g")
    return func.to_tsquery(literal_column("'simple'::regconfig"), prefixed)


def _conditions(tenant_id: str, f: EventFilter, cols: Any = Event) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [cols.tenant_id == tenant_id, ~cols.is_deleted]
    if f.stream_id is not None:
        conditions.append(cols.stream_id == f.stream_id)
    if f.object_type is not None:
        conditions.append(Stream.object_type == f.object_type)
    if f.object_id is not None:
        conditions.append(Stream.object_id == f.object_id)
    if f.event_types:
        conditions.append(cols.event_type.in_(list(f.event_types)))
    if f.min_importance is not None:
        conditions.append(cols.importance >= f.min_importance)
    if f.since is not None:
        conditions.append(cols.occurred_at >= f.since)
    if f.until is not None:
        conditions.append(cols.occurred_at < f.until)
    if f.actor_id is not None:
        conditions.append(cols.actor_id == f.actor_id)
    if f.assigned_to is not None:
        conditions.append(cols.assigned_to == f.assigned_to)
    if f.status is not None:
        conditions.append(cols.status == f.status)
    if f.priority is not None:
        conditions.append(cols.priority == f.priority)
    if f.text is not None:
        conditions.append(cols.search.op("@@")(text_query(f.text)))
    if f.subscriber is not None:
        conditions.append(
            exists().where(
                Subscription.tenant_id == cols.tenant_id,
                Subscription.stream_id == cols.stream_id,
                Subscription.user_id == f.subscriber,
                Subscription.subscription_type != "mute",
                Subscription.min_importance <= cols.importance,
            )
        )
    return conditions


def _headline(query: str) -> ColumnElement[str]:
    # The same text the search vector indexes: summary, description, data's strings.
    data_text = text(
        "array_to_string(ARRAY(SELECT jsonb_path_query(events.data, "
        "'strict $.** ? (@.type() == \"string\")') #>> '{}'), ' ')"
    )
    document = func.concat_ws(" — ", Event.summary, func.nullif(Event.description, ""), data_text)
    return func.ts_headline(
        TS_CONFIG,
        document,
        text_query(query),
        text(
            f"'MaxFragments=2, MaxWords=30, MinWords=8, "
            f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}'"
        ),
    ).label("headline")


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
        params = {
            "tenant_id": tenant_id,
            "keys": [c.key for c in claims],
            "fingerprints": [c.fingerprint for c in claims],
            "event_ids": [c.event_id for c in claims],
            "occurred": [c.occurred_at for c in claims],
        }
        return set(await self.session.scalars(_CLAIM_KEYS, params))

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
        """Inserts events with their outbox rows, bumps their streams' counters and adds
        them to the activity rollup, in one statement (one round trip).

        The rows travel as one array per column, so the statement has the same shape for
        one event or a thousand: compiled once by SQLAlchemy, prepared once per
        connection. Callers lock the streams first (StreamRepository.lock) when a batch
        spans several.
        """
        params: dict[str, Any] = {
            f"ev_{name}": [row[name] for row in rows] for name in _INSERT_COLUMNS
        }
        for name in _AS_JSON:
            params[f"ev_{name}"] = [
                None if row.get(name) is None else orjson.dumps(row[name]).decode() for row in rows
            ]
        params["shard"] = pick_shard()
        await self.session.execute(_INSERT_EVENTS, params)

    async def get_view(self, tenant_id: str, event_id: uuid.UUID) -> Row[Any] | None:
        """The event as every read shows it; None when missing, foreign or deleted."""
        result = await self.session.execute(
            _view(Event.tenant_id).where(
                Event.tenant_id == tenant_id, Event.id == event_id, ~Event.is_deleted
            )
        )
        row: Row[Any] | None = result.first()
        return row

    async def in_stream(self, tenant_id: str, stream_id: uuid.UUID, event_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(
                select(
                    exists().where(
                        Event.tenant_id == tenant_id,
                        Event.stream_id == stream_id,
                        Event.id == event_id,
                    )
                )
            )
        )

    async def recorded_after(
        self, tenant_id: str, stream_id: uuid.UUID, event_id: uuid.UUID, *, limit: int
    ) -> list[Row[Any]]:
        """The stream's events recorded after `event_id` (ids are time-ordered), in that
        order, through (tenant, stream, id)."""
        stmt = (
            _view()
            .where(
                Event.tenant_id == tenant_id,
                Event.stream_id == stream_id,
                Event.id > event_id,
                ~Event.is_deleted,
            )
            .order_by(Event.id)
            .limit(limit)
        )
        return list(await self.session.execute(stmt))

    async def page(
        self,
        tenant_id: str,
        f: EventFilter,
        *,
        cursor: Cursor | None,
        limit: int,
        offset: int = 0,
        headlines: bool = False,
    ) -> list[Row[Any]]:
        """Newest first (one extra row tells whether another page follows). With
        `headlines` and a text filter, each row carries a highlighted `headline`, computed
        for the page's rows only."""
        conditions = _conditions(tenant_id, f)
        if not (headlines and f.text):
            stmt = newest_first(
                _view().where(*conditions),
                Event.occurred_at,
                Event.id,
                cursor=cursor,
                limit=limit,
                offset=offset,
            )
            return list(await self.session.execute(stmt))
        ids = select(Event.id, Event.occurred_at).where(*conditions)
        if f.touches_stream:
            ids = ids.join(Stream, Stream.id == Event.stream_id)
        page = newest_first(
            ids, Event.occurred_at, Event.id, cursor=cursor, limit=limit, offset=offset
        ).subquery("page")
        stmt = (
            _view(_headline(f.text))
            .join(page, and_(page.c.id == Event.id, page.c.occurred_at == Event.occurred_at))
            .where(Event.tenant_id == tenant_id)
            .order_by(page.c.occurred_at.desc(), page.c.id.desc())
        )
        return list(await self.session.execute(stmt))

    async def archived_page(
        self, tenant_id: str, f: EventFilter, *, cursor: Cursor | None, limit: int
    ) -> list[Row[Any]]:
        """The same page from `events_archive` (reporting over archived events)."""
        cols = events_archive.c
        stmt = newest_first(
            _view(cols=cols).where(*_conditions(tenant_id, f, cols)),
            cols.occurred_at,
            cols.id,
            cursor=cursor,
            limit=limit,
        )
        return list(await self.session.execute(stmt))

    async def count_archived(self, tenant_id: str, f: EventFilter, *, cap: int) -> int:
        cols = events_archive.c
        matching: Select[Any] = (
            select(literal_column("1"))
            .select_from(events_archive)
            .where(*_conditions(tenant_id, f, cols))
        )
        if f.touches_stream:
            matching = matching.join(Stream, Stream.id == cols.stream_id)
        total = await self.session.scalar(
            select(func.count()).select_from(matching.limit(cap + 1).subquery())
        )
        return total or 0

    async def count(self, tenant_id: str, f: EventFilter, *, cap: int | None = None) -> int:
        """How many events match, counting at most `cap` + 1 (so a huge match stays cheap:
        the caller reports "more than cap")."""
        matching: Select[Any] = (
            select(literal_column("1")).select_from(Event).where(*_conditions(tenant_id, f))
        )
        if f.touches_stream:
            matching = matching.join(Stream, Stream.id == Event.stream_id)
        if cap is not None:
            matching = matching.limit(cap + 1)
        total = await self.session.scalar(select(func.count()).select_from(matching.subquery()))
        return total or 0

    async def search(
        self, tenant_id: str, f: EventFilter, *, limit: int, offset: int
    ) -> list[Row[Any]]:
        """`f.text` matches, best first, each with `rank` and a highlighted `headline`
        (computed for the page only).

        Only the newest SEARCH_WINDOW matches are ranked: a common word would otherwise
        rank (and read) every match of the tenant, ~1 s at a million events, for a
        result nobody pages through to the end."""
        assert f.text is not None
        tsquery = text_query(f.text)
        newest = select(Event.id, Event.occurred_at, Event.search).where(*_conditions(tenant_id, f))
        if f.touches_stream:
            newest = newest.join(Stream, Stream.id == Event.stream_id)
        window = (
            newest.order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(SEARCH_WINDOW)
            .subquery("newest")
        )
        rank = func.ts_rank_cd(window.c.search, tsquery).label("rank")
        page = (
            select(window.c.id, window.c.occurred_at, rank)
            .order_by(rank.desc(), window.c.occurred_at.desc(), window.c.id.desc())
            .limit(limit)
            .offset(offset)
            .subquery("matches")
        )
        stmt = (
            _view(page.c.rank, _headline(f.text))
            .join(page, and_(page.c.id == Event.id, page.c.occurred_at == Event.occurred_at))
            .where(Event.tenant_id == tenant_id)
            .order_by(page.c.rank.desc(), Event.occurred_at.desc(), Event.id.desc())
        )
        return list(await self.session.execute(stmt))

    async def counts_by_type(
        self, tenant_id: str, stream_id: uuid.UUID, since: datetime | None
    ) -> dict[str, int]:
        conditions = _conditions(tenant_id, EventFilter(stream_id=stream_id, since=since))
        result = await self.session.execute(
            select(Event.event_type, func.count())
            .where(*conditions)
            .group_by(Event.event_type)
            .order_by(Event.event_type)
        )
        return dict(result.all())

    async def get_for_change(self, tenant_id: str, event_id: uuid.UUID) -> Event | None:
        """The live event row, locked for an edit or delete."""
        return await self.session.scalar(
            select(Event)
            .where(Event.tenant_id == tenant_id, Event.id == event_id, ~Event.is_deleted)
            .with_for_update()
        )

    async def record_change(self, event: Event, kind: str) -> None:
        """An outbox row telling consumers (live layer, feeds) that `event` changed."""
        await self.session.execute(
            insert(Outbox).values(
                tenant_id=event.tenant_id,
                event_id=event.id,
                event_occurred_at=event.occurred_at,
                stream_id=event.stream_id,
                kind=kind,
            )
        )

    async def soft_delete(self, event: Event, at: datetime) -> None:
        event.is_deleted = True
        event.deleted_at = at
        await self.session.execute(
            update(Stream)
            .where(Stream.id == event.stream_id)
            .values(event_count=Stream.event_count - 1)
        )
        await self.session.flush()
