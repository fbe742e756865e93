"""Feed items, their counters, subscriptions and the fan-out statement."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import Row, Select, TextClause, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.db import EventRef
from app.models import Outbox, Stream, Subscription
from app.pagination import Cursor
from app.repositories.base import Repository

# One chunk of an event's fan-out, in one statement: lock the event's outbox row (so
# two runs of the same job take turns), read how far earlier chunks got, deliver the
# event to the next `limit` recipients after that (in user order), move their counters,
# and record the progress (or, on the last chunk, that the fan-out is done). A chunk that
# committed is never delivered again, so the insert needs no conflict check, except when
# a backfill got some of the same items in first: then the chunk is re-run tolerating
# them (`{on_conflict}`). See fan_out_sql for `{limit}`.
#
# Recipients are the stream's subscribers whose min_importance admits the event (muted
# ones excluded) plus the event's named recipients; the subscriber branch is limited
# before the union so a chunk reads `limit` subscriptions from the index, not all that
# remain. Counters already there are bumped by a plain UPDATE (HOT, no index entry: most
# of a fan-out's cost otherwise); missing ones are inserted, racing inserts merged.
_FAN_OUT = """
WITH job AS MATERIALIZED (
    SELECT o.id, coalesce(o.fanout_cursor, '') AS after
      FROM outbox o
     WHERE o.event_id = :event_id AND o.tenant_id = :tenant_id AND o.kind = 'created'
       AND o.processed_at IS NULL
     ORDER BY o.id LIMIT 1
       FOR UPDATE
), ev AS MATERIALIZED (
    SELECT e.id, e.occurred_at, e.stream_id, e.event_type, e.importance, e.recipients
      FROM events e
     WHERE e.tenant_id = :tenant_id AND e.id = :event_id AND e.occurred_at = :occurred_at
       AND e.stream_id = :stream_id AND NOT e.is_deleted AND EXISTS (SELECT 1 FROM job)
), recipients AS MATERIALIZED (
    -- Named recipients who are subscribers too come through the subscriber branch, so
    -- the two branches never overlap and need no de-duplicating.
    SELECT user_id FROM (
        (SELECT sub.user_id
           FROM subscriptions sub
          WHERE sub.tenant_id = :tenant_id
            AND sub.stream_id = :stream_id
            AND sub.subscription_type <> 'mute'
            AND sub.min_importance <= (SELECT importance FROM ev)
            AND sub.user_id > (SELECT after FROM job)
          ORDER BY sub.user_id
          LIMIT {limit})
        UNION ALL
        (SELECT DISTINCT named FROM ev, unnest(ev.recipients) AS named
          WHERE named > (SELECT after FROM job)
            AND NOT EXISTS (
                SELECT 1 FROM subscriptions sub
                 WHERE sub.tenant_id = :tenant_id AND sub.stream_id = :stream_id
                   AND sub.user_id = named AND sub.subscription_type <> 'mute'
                   AND sub.min_importance <= ev.importance))
    ) AS everyone
    ORDER BY user_id
    LIMIT {limit}
), delivered AS (
    INSERT INTO feed_items (tenant_id, user_id, created_at, event_id, stream_id, activity_type)
    SELECT :tenant_id, r.user_id, ev.occurred_at, ev.id, :stream_id, ev.event_type
      FROM recipients r CROSS JOIN ev
    {on_conflict}
    RETURNING user_id
), counted AS (
    -- An upsert finds each counter by its key (no join for the planner to get wrong on
    -- a tenant's first large fan-out, when the statistics know none of its rows), in
    -- user order, so concurrent chunks of one stream lock them in the same order.
    INSERT INTO feed_counters AS c (tenant_id, user_id, stream_id, activity_type, total, unread)
    SELECT :tenant_id, d.user_id, :stream_id, (SELECT event_type FROM ev), 1, 1
      FROM delivered d
     ORDER BY d.user_id
    ON CONFLICT (tenant_id, user_id, stream_id, activity_type)
    DO UPDATE SET total = c.total + 1, unread = c.unread + 1
), progressed AS (
    UPDATE outbox o
       SET fanout_cursor = coalesce((SELECT max(user_id) FROM recipients), o.fanout_cursor),
           processed_at = CASE WHEN (SELECT count(*) FROM recipients) < {limit}
                               THEN now() END
      FROM job WHERE o.id = job.id
)
SELECT (SELECT count(*) FROM delivered) AS delivered,
       (SELECT count(*) FROM recipients) AS considered,
       (SELECT count(*) FROM job) AS pending,
       (SELECT after FROM job) AS after,
       (SELECT max(user_id) FROM recipients) AS last_user
"""


def fan_out_sql(limit: int, *, tolerant: bool = False) -> str:
    """FAN_OUT for chunks of `limit` recipients. The limit is written into the text (one
    statement per chunk size): as a parameter, PostgreSQL could not cost a generic plan
    and would plan every chunk afresh, or settle on a plan that sorts every subscriber of
    the stream to keep the first chunk."""
    return _FAN_OUT.format(
        on_conflict="ON CONFLICT DO NOTHING" if tolerant else "", limit=int(limit)
    )


@functools.lru_cache(maxsize=16)
def _fan_out_statement(limit: int, tolerant: bool) -> TextClause:
    return text(fan_out_sql(limit, tolerant=tolerant))


# Of a batch of newly recorded events (one tenant's), those nobody would receive (no
# subscriber of the stream the event's importance admits, no named recipient): their
# outbox rows are settled at once, in one statement, so a batch to streams nobody follows
# costs no fan-out statement per event.
SETTLE_UNREACHABLE = text(
    """
WITH batch AS (
    SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:times AS timestamptz[]),
                         CAST(:streams AS uuid[])) AS b(id, occurred_at, stream_id)
), unreachable AS (
    SELECT e.id
      FROM batch b
      JOIN events e ON e.tenant_id = :tenant_id AND e.id = b.id
                   AND e.occurred_at = b.occurred_at AND e.stream_id = b.stream_id
     WHERE coalesce(cardinality(e.recipients), 0) = 0
       AND NOT EXISTS (
           SELECT 1 FROM subscriptions sub
            WHERE sub.tenant_id = :tenant_id AND sub.stream_id = e.stream_id
              AND sub.subscription_type <> 'mute' AND sub.min_importance <= e.importance)
)
UPDATE outbox o SET processed_at = now()
  FROM unreachable u
 WHERE o.tenant_id = :tenant_id AND o.event_id = u.id AND o.kind = 'created'
   AND o.processed_at IS NULL
RETURNING o.event_id
"""
)


# Marks a user's unread items read (all, some, or one stream's) and takes them off the
# counters in the same statement, so a count read at any moment matches the rows.
MARK_READ = text(
    """
WITH marked AS (
    UPDATE feed_items SET is_read = true, read_at = now()
     WHERE tenant_id = :tenant_id AND user_id = :user_id AND NOT is_read
       AND (CAST(:ids AS uuid[]) IS NULL OR event_id = ANY(CAST(:ids AS uuid[])))
       AND (CAST(:stream_id AS uuid) IS NULL OR stream_id = CAST(:stream_id AS uuid))
    RETURNING stream_id, activity_type
), counted AS (
    -- An upsert fed in key order (the cells exist: the items were counted) takes the
    -- cells' locks in that order, as fan-out and retention do; an UPDATE ... FROM would
    -- take them in its join's order, and two of a user's mark-reads could deadlock.
    INSERT INTO feed_counters AS c (tenant_id, user_id, stream_id, activity_type, total, unread)
    SELECT :tenant_id, :user_id, stream_id, activity_type, 0, -count(*)
      FROM marked GROUP BY stream_id, activity_type ORDER BY stream_id, activity_type
    ON CONFLICT (tenant_id, user_id, stream_id, activity_type)
    DO UPDATE SET unread = c.unread + EXCLUDED.unread
)
SELECT count(*) FROM marked
"""
)


# The events of a user's followed streams since a time (at each subscription's minimum
# importance) that are not in their feed yet: what populate/generate backfill.
_MISSING = """
    FROM subscriptions sub
    JOIN events e ON e.tenant_id = sub.tenant_id AND e.stream_id = sub.stream_id
   WHERE sub.tenant_id = :tenant_id AND sub.user_id = :user_id
     AND sub.subscription_type <> 'mute' AND e.importance >= sub.min_importance
     AND NOT e.is_deleted AND e.occurred_at >= :since
"""
BACKFILL = text(
    f"""
WITH delivered AS (
    INSERT INTO feed_items (tenant_id, user_id, created_at, event_id, stream_id, activity_type)
    SELECT e.tenant_id, sub.user_id, e.occurred_at, e.id, e.stream_id, e.event_type
    {_MISSING}
    ON CONFLICT DO NOTHING
    RETURNING stream_id, activity_type
), counted AS (
    INSERT INTO feed_counters AS c (tenant_id, user_id, stream_id, activity_type, total, unread)
    SELECT :tenant_id, :user_id, stream_id, activity_type, count(*), count(*)
      FROM delivered GROUP BY stream_id, activity_type ORDER BY stream_id, activity_type
    ON CONFLICT (tenant_id, user_id, stream_id, activity_type)
    DO UPDATE SET total = c.total + EXCLUDED.total, unread = c.unread + EXCLUDED.unread
)
SELECT count(*) FROM delivered
"""
)
BACKFILL_DRY_RUN = text(
    f"""
SELECT count(*) {_MISSING}
   AND NOT EXISTS (SELECT 1 FROM feed_items f
                    WHERE f.tenant_id = e.tenant_id AND f.user_id = sub.user_id
                      AND f.created_at = e.occurred_at AND f.event_id = e.id)
"""
)

# A page of a user's feed: the lean rows by the key index (newest first), then their
# events' text and data and their streams' objects. The data comes as JSON text, to be
# written into the response as it is. {where} and {offset} come from `_page_sql`.
_PAGE = """
SELECT f.event_id, f.activity_type, f.is_read, f.read_at, f.created_at, f.stream_id,
       coalesce(e.summary, '') AS title, coalesce(e.description, '') AS description,
       coalesce(e.data, '{{}}'::jsonb)::text AS data, s.object_type, s.object_id
  FROM (SELECT event_id, activity_type, is_read, read_at, created_at, stream_id
          FROM feed_items
         WHERE tenant_id = $1 AND user_id = $2{where}
         ORDER BY created_at DESC, event_id DESC
         LIMIT {limit}{offset}) AS f
  -- One key lookup per item (LIMIT keeps the planner from turning these into joins
  -- over all the tenant's streams or events).
  LEFT JOIN LATERAL (
       SELECT summary, description, data FROM events
        WHERE tenant_id = $1 AND id = f.event_id AND occurred_at = f.created_at
        LIMIT 1) AS e ON true
  LEFT JOIN LATERAL (
       SELECT object_type, object_id FROM streams
        WHERE id = f.stream_id AND tenant_id = $1 LIMIT 1) AS s ON true
 ORDER BY f.created_at DESC, f.event_id DESC
"""
# The live layer's reads: one event's item for some users (the ones a hub has sockets
# for), and a user's items after one they saw, oldest first (a reconnect's replay).
_ITEM_COLUMNS = """
       f.event_id, f.activity_type, f.is_read, f.read_at, f.created_at, f.stream_id,
       coalesce(e.summary, '') AS title, coalesce(e.description, '') AS description,
       coalesce(e.data, '{}'::jsonb)::text AS data, s.object_type, s.object_id"""
_ITEM_JOINS = """
  LEFT JOIN LATERAL (
       SELECT summary, description, data FROM events
        WHERE tenant_id = $1 AND id = f.event_id AND occurred_at = f.created_at
        LIMIT 1) AS e ON true
  LEFT JOIN LATERAL (
       SELECT object_type, object_id FROM streams
        WHERE id = f.stream_id AND tenant_id = $1 LIMIT 1) AS s ON true"""
_DELIVERED_TO = f"""
SELECT f.user_id, {_ITEM_COLUMNS}
  FROM feed_items f {_ITEM_JOINS}
 WHERE f.tenant_id = $1 AND f.user_id = ANY($2::text[]) AND f.created_at = $3
   AND f.event_id = $4 AND f.user_id > $5 AND f.user_id <= $6
"""
_UNREAD_OF_USERS = """
SELECT user_id, activity_type, sum(unread)::bigint AS unread
  FROM feed_counters
 WHERE tenant_id = $1 AND user_id = ANY($2::text[]) AND unread <> 0
 GROUP BY user_id, activity_type
"""
_ITEM_TIME = """
SELECT created_at FROM feed_items WHERE tenant_id = $1 AND user_id = $2 AND event_id = $3
"""
_ITEMS_AFTER = f"""
SELECT {_ITEM_COLUMNS}
  FROM (SELECT * FROM feed_items
         WHERE tenant_id = $1 AND user_id = $2
           AND (created_at > $3 OR (created_at = $3 AND event_id > $4))
         ORDER BY created_at, event_id
         LIMIT $5) AS f {_ITEM_JOINS}
 ORDER BY f.created_at, f.event_id
"""
_COUNT = """
SELECT count(*) FROM (SELECT 1 FROM feed_items WHERE tenant_id = $1 AND user_id = $2{where}
                       LIMIT {limit}) AS capped
"""
_UNREAD_BY_TYPE = """
SELECT activity_type, sum(unread)::bigint AS unread
  FROM feed_counters WHERE tenant_id = $1 AND user_id = $2 AND unread <> 0
 GROUP BY activity_type ORDER BY activity_type
"""
_COUNTERS_BY_TYPE = """
SELECT activity_type, sum(total)::bigint AS total, sum(unread)::bigint AS unread
  FROM feed_counters WHERE tenant_id = $1 AND user_id = $2
 GROUP BY activity_type ORDER BY activity_type
"""
# Everything `unread_counts` needs in one round trip: the counters with unread items
# (subscription null), then the subscriptions (counts null), newest first.
_UNREAD_COUNTS = """
(SELECT stream_id, activity_type, unread, NULL::uuid AS subscription_id, NULL AS slug
   FROM feed_counters WHERE tenant_id = $1 AND user_id = $2 AND unread <> 0)
UNION ALL
(SELECT sub.stream_id, NULL, NULL, sub.id, s.slug
   FROM subscriptions sub
   CROSS JOIN LATERAL (SELECT slug FROM streams
                        WHERE id = sub.stream_id AND tenant_id = sub.tenant_id LIMIT 1) AS s
  WHERE sub.tenant_id = $1 AND sub.user_id = $2
  ORDER BY sub.created_at DESC, sub.id DESC)
"""
_UNREAD_BY_STREAM = """
SELECT stream_id, sum(unread)::bigint AS unread
  FROM feed_counters WHERE tenant_id = $1 AND user_id = $2 AND unread <> 0
 GROUP BY stream_id
"""


@dataclass(frozen=True, slots=True)
class FeedFilter:
    activity_types: Sequence[str] = ()
    is_read: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    stream_id: uuid.UUID | None = None

    @property
    def counted_by_counters(self) -> bool:
        """Whether the counters answer this filter's total (no time or stream bounds)."""
        return self.since is None and self.until is None and self.stream_id is None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A feed item as read: its row, its event's text and data (`data_json`: the JSON
    text as stored) and its stream's object. `event_id` is also the item's id."""

    event_id: uuid.UUID
    activity_type: str
    is_read: bool
    read_at: datetime | None
    created_at: datetime
    stream_id: uuid.UUID
    title: str
    description: str
    data_json: str
    target_type: str | None
    target_id: str | None


@dataclass(frozen=True, slots=True)
class Chunk:
    delivered: int  # new feed items
    considered: int  # recipients this chunk went through
    pending: bool  # whether the event still had a fan-out to do when the chunk began
    after: str = ""  # the chunk's recipients are the users in (after, last]
    last: str | None = None


@functools.lru_cache(maxsize=1024)
def _page_sql(
    template: str,
    types: bool,
    is_read: bool | None,
    since: bool,
    until: bool,
    stream: bool,
    keyset: bool,
    offset: bool,
    limit: int,
) -> str:
    """The statement for one combination of filters and page size; each is its own
    prepared statement, so every plan uses the key index with the bounds it has.

    The limit is written into the text: with `LIMIT $n` PostgreSQL cannot cost a generic
    plan (it guesses the limit) and plans every execution afresh, ~1 ms with a year of
    monthly partitions, two to three times the query itself."""
    where, n = [], 3
    if types:
        where.append(f"activity_type = ANY(${n}::text[])")
        n += 1
    if is_read is not None:
        where.append("is_read" if is_read else "NOT is_read")
    if since:
        where.append(f"created_at >= ${n}")
        n += 1
    if until:
        where.append(f"created_at < ${n}")
        n += 1
    if stream:
        where.append(f"stream_id = ${n}")
        n += 1
    if keyset:
        # An OR rather than a row comparison, so the time is an index bound.
        where.append(f"(created_at < ${n} OR (created_at = ${n} AND event_id < ${n + 1}))")
        n += 2
    tail = f" OFFSET ${n}" if offset else ""
    return template.format(where="".join(f" AND {w}" for w in where), offset=tail, limit=int(limit))


def _page_args(f: FeedFilter, cursor: Cursor | None) -> list[Any]:
    args: list[Any] = []
    if f.activity_types:
        args.append(list(f.activity_types))
    args.extend(v for v in (f.since, f.until, f.stream_id) if v is not None)
    if cursor is not None:
        args.extend((cursor.at, cursor.id))
    return args


class FeedRepository(Repository):
    async def fan_out_chunk(self, event: EventRef, *, limit: int, tolerant: bool = False) -> Chunk:
        """Delivers the next chunk of `event`'s recipients (see FAN_OUT). Raises
        IntegrityError if one of the items exists already, which only a backfill racing
        an async fan-out can cause: re-run the chunk (in a new transaction) tolerantly."""
        params = {
            "tenant_id": event.tenant_id,
            "event_id": event.event_id,
            "occurred_at": event.occurred_at,
            "stream_id": event.stream_id,
        }
        row = (await self.session.execute(_fan_out_statement(limit, tolerant), params)).one()
        return Chunk(
            int(row.delivered),
            int(row.considered),
            bool(row.pending),
            row.after or "",
            row.last_user,
        )

    async def settle_unreachable(self, events: Sequence[EventRef]) -> set[uuid.UUID]:
        """Settles the fan-out of those of one tenant's `events` nobody would receive
        (SETTLE_UNREACHABLE); their ids."""
        params = {
            "tenant_id": events[0].tenant_id,
            "ids": [e.event_id for e in events],
            "times": [e.occurred_at for e in events],
            "streams": [e.stream_id for e in events],
        }
        return set(await self.session.scalars(SETTLE_UNREACHABLE, params))

    async def commit_without_waiting(self) -> None:
        """This transaction's commit will not wait for the WAL flush (it may be lost in a
        server crash, entirely, never in part)."""
        await self.session.execute(text("SET LOCAL synchronous_commit = off"))

    async def mark_read(
        self,
        tenant_id: str,
        user_id: str,
        *,
        ids: Sequence[uuid.UUID] | None = None,
        stream_id: uuid.UUID | None = None,
    ) -> int:
        params = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "ids": list(ids) if ids is not None else None,
            "stream_id": stream_id,
        }
        return int(await self.session.scalar(MARK_READ, params) or 0)

    async def backfill(
        self, tenant_id: str, user_id: str, since: datetime, *, dry_run: bool = False
    ) -> int:
        """Delivers (or, dry, counts) the followed streams' events since `since` that the
        user's feed lacks."""
        params = {"tenant_id": tenant_id, "user_id": user_id, "since": since}
        statement = BACKFILL_DRY_RUN if dry_run else BACKFILL
        return int(await self.session.scalar(statement, params) or 0)

    async def subscribers(
        self, tenant_id: str | None, user_id: str | None
    ) -> list[tuple[str, str]]:
        """(tenant, user) of everyone with a subscription, optionally narrowed."""
        stmt = select(Subscription.tenant_id, Subscription.user_id).distinct()
        if tenant_id is not None:
            stmt = stmt.where(Subscription.tenant_id == tenant_id)
        if user_id is not None:
            stmt = stmt.where(Subscription.user_id == user_id)
        result = await self.session.execute(
            stmt.order_by(Subscription.tenant_id, Subscription.user_id)
        )
        return [(row.tenant_id, row.user_id) for row in result]


class FeedReads:
    """The hot reads (a feed page, the counts): plain asyncpg on a connection from
    `Reader` (or a session's, through `app.db.driver`), rows as tuples, no ORM objects."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def page(
        self,
        tenant_id: str,
        user_id: str,
        f: FeedFilter,
        *,
        cursor: Cursor | None,
        limit: int,
        offset: int = 0,
    ) -> list[FeedEntry]:
        """Newest first; `limit` + 1 rows are asked for, so callers can tell whether a
        page follows."""
        sql = _page_sql(
            _PAGE,
            bool(f.activity_types),
            f.is_read,
            f.since is not None,
            f.until is not None,
            f.stream_id is not None,
            cursor is not None,
            offset > 0,
            limit + 1,
        )
        args = [tenant_id, user_id, *_page_args(f, cursor)]
        if offset:
            args.append(offset)
        rows = await self.conn.fetch(sql, *args)
        return [FeedEntry(*row) for row in rows]

    async def count(self, tenant_id: str, user_id: str, f: FeedFilter, *, cap: int) -> int:
        """Matching items, counted up to `cap` + 1 (for filters the counters cannot
        answer)."""
        sql = _page_sql(
            _COUNT,
            bool(f.activity_types),
            f.is_read,
            f.since is not None,
            f.until is not None,
            f.stream_id is not None,
            False,
            False,
            cap + 1,
        )
        args = [tenant_id, user_id, *_page_args(f, None)]
        return int(await self.conn.fetchval(sql, *args) or 0)

    async def counters(self, tenant_id: str, user_id: str) -> dict[str, tuple[int, int]]:
        """activity type -> (total, unread)."""
        rows = await self.conn.fetch(_COUNTERS_BY_TYPE, tenant_id, user_id)
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    async def delivered_to(
        self,
        tenant_id: str,
        users: Sequence[str],
        occurred_at: datetime,
        event_id: uuid.UUID,
        *,
        after: str,
        last: str,
    ) -> list[tuple[str, FeedEntry]]:
        """(user, item) for those of `users` in (after, last] (the database's order of
        user ids, which a fan-out chunk's range is in) whose feed has the event."""
        rows = await self.conn.fetch(
            _DELIVERED_TO, tenant_id, list(users), occurred_at, event_id, after, last
        )
        return [(row[0], FeedEntry(*row[1:])) for row in rows]

    async def unread_of_users(
        self, tenant_id: str, users: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """user -> activity type -> unread, for each of `users` (none: absent)."""
        found: dict[str, dict[str, int]] = {}
        for user, activity_type, unread in await self.conn.fetch(
            _UNREAD_OF_USERS, tenant_id, list(users)
        ):
            found.setdefault(user, {})[activity_type] = int(unread)
        return found

    async def after(
        self, tenant_id: str, user_id: str, event_id: uuid.UUID, *, limit: int
    ) -> list[FeedEntry] | None:
        """The user's items after the one of `event_id` in feed order, oldest first, up
        to `limit`; None when the user has no such item."""
        at = await self.conn.fetchval(_ITEM_TIME, tenant_id, user_id, event_id)
        if at is None:
            return None
        rows = await self.conn.fetch(_ITEMS_AFTER, tenant_id, user_id, at, event_id, limit)
        return [FeedEntry(*row) for row in rows]

    async def unread_by_type(self, tenant_id: str, user_id: str) -> dict[str, int]:
        """Unread items per activity type (types with none left out)."""
        rows = await self.conn.fetch(_UNREAD_BY_TYPE, tenant_id, user_id)
        return {row[0]: int(row[1]) for row in rows}

    async def unread_counts(
        self, tenant_id: str, user_id: str
    ) -> tuple[list[tuple[uuid.UUID, str, int]], list[tuple[uuid.UUID, str, uuid.UUID]]]:
        """(stream, activity type, unread) of every counter with unread items, and
        (subscription id, stream slug, stream id) of the user's subscriptions, newest
        first."""
        cells: list[tuple[uuid.UUID, str, int]] = []
        subscribed: list[tuple[uuid.UUID, str, uuid.UUID]] = []
        for stream_id, activity_type, unread, subscription_id, slug in await self.conn.fetch(
            _UNREAD_COUNTS, tenant_id, user_id
        ):
            if subscription_id is None:
                cells.append((stream_id, activity_type, int(unread)))
            else:
                subscribed.append((subscription_id, slug, stream_id))
        return cells, subscribed

    async def unread_by_stream(self, tenant_id: str, user_id: str) -> dict[uuid.UUID, int]:
        """Unread items per stream, from the counters."""
        rows = await self.conn.fetch(_UNREAD_BY_STREAM, tenant_id, user_id)
        return {row[0]: int(row[1]) for row in rows}


class SubscriptionRepository(Repository):
    async def upsert(self, values: dict[str, Any]) -> tuple[Subscription, bool]:
        """The subscription after insert-or-update, and whether it is new."""
        stmt = pg_insert(Subscription).values(**values)
        changed = {
            k: stmt.excluded[k]
            for k in ("subscription_type", "notify_email", "notify_push", "min_importance")
        }
        upsert = stmt.on_conflict_do_update(
            index_elements=[Subscription.tenant_id, Subscription.stream_id, Subscription.user_id],
            set_={**changed, "updated_at": func.now()},
        ).returning(Subscription)
        result = await self.session.scalars(upsert, execution_options={"populate_existing": True})
        subscription = result.one()
        # The row keeps its first id: ours came back only if this call inserted it.
        return subscription, subscription.id == values["id"]

    async def delete(self, tenant_id: str, stream_id: uuid.UUID, user_id: str) -> bool:
        result = await self.session.execute(
            delete(Subscription)
            .where(
                Subscription.tenant_id == tenant_id,
                Subscription.stream_id == stream_id,
                Subscription.user_id == user_id,
            )
            .returning(Subscription.id)
        )
        return result.first() is not None

    async def bump_subscriber_count(self, stream_id: uuid.UUID, delta: int) -> None:
        await self.session.execute(
            update(Stream)
            .where(Stream.id == stream_id)
            .values(subscriber_count=Stream.subscriber_count + delta)
        )

    def _mine(self, tenant_id: str, user_id: str) -> Select[Subscription, Stream]:
        return (
            select(Subscription, Stream)
            .join(
                Stream,
                (Stream.tenant_id == Subscription.tenant_id)
                & (Stream.id == Subscription.stream_id),
            )
            .where(Subscription.tenant_id == tenant_id, Subscription.user_id == user_id)
        )

    async def mine(self, tenant_id: str, user_id: str) -> list[Row[Subscription, Stream]]:
        stmt = self._mine(tenant_id, user_id).order_by(
            Subscription.created_at.desc(), Subscription.id.desc()
        )
        return list(await self.session.execute(stmt))

    async def get(
        self, tenant_id: str, user_id: str, subscription_id: uuid.UUID
    ) -> Row[Subscription, Stream] | None:
        result = await self.session.execute(
            self._mine(tenant_id, user_id).where(Subscription.id == subscription_id)
        )
        row: Row[Subscription, Stream] | None = result.first()
        return row

    async def follows(self, tenant_id: str, user_id: str, stream_id: uuid.UUID) -> bool:
        """Whether the user has a subscription (of any type) to the stream."""
        found = await self.session.scalar(
            select(Subscription.id).where(
                Subscription.tenant_id == tenant_id,
                Subscription.stream_id == stream_id,
                Subscription.user_id == user_id,
            )
        )
        return found is not None

    async def by_id(self, tenant_id: str, subscription_id: uuid.UUID) -> Subscription | None:
        """Anyone's subscription (an admin's look-up), locked for a change."""
        return await self.session.scalar(
            select(Subscription)
            .where(Subscription.tenant_id == tenant_id, Subscription.id == subscription_id)
            .with_for_update()
        )

    async def for_stream(
        self, tenant_id: str, user_id: str, stream_id: uuid.UUID
    ) -> Subscription | None:
        return await self.session.scalar(
            select(Subscription).where(
                Subscription.tenant_id == tenant_id,
                Subscription.user_id == user_id,
                Subscription.stream_id == stream_id,
            )
        )

    async def touch_read(self, subscription: Subscription, at: datetime) -> None:
        subscription.last_read_at = at
        await self.session.flush()


class OutboxRepository(Repository):
    async def pending(self, before: datetime, limit: int) -> list[EventRef]:
        result = await self.session.execute(
            select(Outbox.tenant_id, Outbox.event_id, Outbox.event_occurred_at, Outbox.stream_id)
            .where(
                Outbox.processed_at.is_(None),
                Outbox.kind == "created",
                Outbox.created_at < before,
            )
            .order_by(Outbox.id)
            .limit(limit)
        )
        return [EventRef(r.tenant_id, r.event_id, r.event_occurred_at, r.stream_id) for r in result]
