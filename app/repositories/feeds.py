"""Feed items, their counters, subscriptions and the fan-out statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.db import EventRef
from app.models import FeedCounter, FeedItem, Outbox, Stream, Subscription
from app.pagination import Cursor
from app.repositories.base import Repository, newest_first

# One chunk of a fan-out: the next `limit` recipients after `after` (in user order) get
# the event, once each (ON CONFLICT: a re-run delivers nothing twice), and their counters
# move in the same statement. Recipients are the stream's subscribers whose
# min_importance admits the event (muted ones excluded) plus the event's named recipients.
FAN_OUT = text(
    """
WITH ev AS (
    SELECT e.id, e.occurred_at, e.tenant_id, e.stream_id, e.event_type, e.importance,
           e.summary, e.description, e.data, e.recipients, s.object_type, s.object_id
      FROM events e JOIN streams s ON s.tenant_id = e.tenant_id AND s.id = e.stream_id
     WHERE e.tenant_id = :tenant_id AND e.id = :event_id AND e.occurred_at = :occurred_at
       AND NOT e.is_deleted
), recipients AS (
    -- Each branch is limited first, so a chunk reads `limit` subscribers from the index
    -- (in user order) instead of every remaining one.
    SELECT user_id FROM (
        (SELECT sub.user_id
           FROM subscriptions sub
          WHERE sub.tenant_id = :tenant_id
            AND sub.stream_id = (SELECT stream_id FROM ev)
            AND sub.subscription_type <> 'mute'
            AND sub.min_importance <= (SELECT importance FROM ev)
            AND sub.user_id > :after
          ORDER BY sub.user_id
          LIMIT :limit)
        UNION
        SELECT named FROM ev, unnest(ev.recipients) AS named WHERE named > :after
    ) AS everyone
    ORDER BY user_id
    LIMIT :limit
), delivered AS (
    INSERT INTO feed_items (id, created_at, tenant_id, user_id, event_id, stream_id,
                            activity_type, title, description, data, target_type, target_id)
    SELECT gen_random_uuid(), ev.occurred_at, ev.tenant_id, r.user_id, ev.id, ev.stream_id,
           ev.event_type, ev.summary, ev.description, ev.data, ev.object_type, ev.object_id
      FROM recipients r CROSS JOIN ev
    ON CONFLICT DO NOTHING
    RETURNING user_id, activity_type
), counted AS (
    INSERT INTO feed_counters AS c (tenant_id, user_id, activity_type, total, unread)
    SELECT :tenant_id, user_id, activity_type, count(*), count(*)
      FROM delivered GROUP BY user_id, activity_type ORDER BY user_id, activity_type
    ON CONFLICT (tenant_id, user_id, activity_type)
    DO UPDATE SET total = c.total + EXCLUDED.total, unread = c.unread + EXCLUDED.unread
)
SELECT (SELECT count(*) FROM delivered) AS delivered,
       (SELECT max(user_id) FROM recipients) AS last_user
"""
)

# Marks a user's unread items read (all, some ids, or one stream's) and takes them off the
# counters in the same statement, so a count read at any moment matches the rows.
MARK_READ = text(
    """
WITH marked AS (
    UPDATE feed_items SET is_read = true, read_at = now()
     WHERE tenant_id = :tenant_id AND user_id = :user_id AND NOT is_read
       AND (CAST(:ids AS uuid[]) IS NULL OR id = ANY(CAST(:ids AS uuid[])))
       AND (CAST(:stream_id AS uuid) IS NULL OR stream_id = CAST(:stream_id AS uuid))
    RETURNING activity_type
), counted AS (
    UPDATE feed_counters c SET unread = c.unread - m.n
      FROM (SELECT activity_type, count(*) AS n FROM marked GROUP BY activity_type) m
     WHERE c.tenant_id = :tenant_id AND c.user_id = :user_id AND c.activity_type = m.activity_type
)
SELECT count(*) FROM marked
"""
)


# The events of a user's followed streams since a time (at each subscription's minimum
# importance) that are not in their feed yet: what populate/generate backfill.
_MISSING = """
    FROM subscriptions sub
    JOIN events e ON e.tenant_id = sub.tenant_id AND e.stream_id = sub.stream_id
    JOIN streams s ON s.tenant_id = e.tenant_id AND s.id = e.stream_id
   WHERE sub.tenant_id = :tenant_id AND sub.user_id = :user_id
     AND sub.subscription_type <> 'mute' AND e.importance >= sub.min_importance
     AND NOT e.is_deleted AND e.occurred_at >= :since
"""
BACKFILL = text(
    f"""
WITH delivered AS (
    INSERT INTO feed_items (id, created_at, tenant_id, user_id, event_id, stream_id,
                            activity_type, title, description, data, target_type, target_id)
    SELECT gen_random_uuid(), e.occurred_at, e.tenant_id, sub.user_id, e.id, e.stream_id,
           e.event_type, e.summary, e.description, e.data, s.object_type, s.object_id
    {_MISSING}
    ON CONFLICT DO NOTHING
    RETURNING activity_type
), counted AS (
    INSERT INTO feed_counters AS c (tenant_id, user_id, activity_type, total, unread)
    SELECT :tenant_id, :user_id, activity_type, count(*), count(*)
      FROM delivered GROUP BY activity_type ORDER BY activity_type
    ON CONFLICT (tenant_id, user_id, activity_type)
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
                      AND f.event_id = e.id AND f.created_at = e.occurred_at)
"""
)


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


class FeedRepository(Repository):
    async def fan_out_chunk(
        self, tenant_id: str, event_id: uuid.UUID, occurred_at: datetime, *, after: str, limit: int
    ) -> tuple[int, str | None]:
        """(items delivered, last recipient considered); None when no recipient is left."""
        row = (
            await self.session.execute(
                FAN_OUT,
                {
                    "tenant_id": tenant_id,
                    "event_id": event_id,
                    "occurred_at": occurred_at,
                    "after": after,
                    "limit": limit,
                },
            )
        ).one()
        return int(row.delivered), row.last_user

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

    def _conditions(self, tenant_id: str, user_id: str, f: FeedFilter) -> list[Any]:
        conditions: list[Any] = [FeedItem.tenant_id == tenant_id, FeedItem.user_id == user_id]
        if f.activity_types:
            conditions.append(FeedItem.activity_type.in_(list(f.activity_types)))
        if f.is_read is not None:
            conditions.append(FeedItem.is_read == f.is_read)
        if f.since is not None:
            conditions.append(FeedItem.created_at >= f.since)
        if f.until is not None:
            conditions.append(FeedItem.created_at < f.until)
        if f.stream_id is not None:
            conditions.append(FeedItem.stream_id == f.stream_id)
        return conditions

    async def page(
        self,
        tenant_id: str,
        user_id: str,
        f: FeedFilter,
        *,
        cursor: Cursor | None,
        limit: int,
        offset: int = 0,
    ) -> list[FeedItem]:
        stmt = newest_first(
            select(FeedItem).where(*self._conditions(tenant_id, user_id, f)),
            FeedItem.created_at,
            FeedItem.id,
            cursor=cursor,
            limit=limit,
            offset=offset,
        )
        return list(await self.session.scalars(stmt))

    async def count(self, tenant_id: str, user_id: str, f: FeedFilter, *, cap: int) -> int:
        matching = (
            select(FeedItem.id).where(*self._conditions(tenant_id, user_id, f)).limit(cap + 1)
        )
        return int(
            await self.session.scalar(select(func.count()).select_from(matching.subquery())) or 0
        )

    async def counters(self, tenant_id: str, user_id: str) -> dict[str, tuple[int, int]]:
        """activity type -> (total, unread)."""
        result = await self.session.execute(
            select(FeedCounter.activity_type, FeedCounter.total, FeedCounter.unread)
            .where(FeedCounter.tenant_id == tenant_id, FeedCounter.user_id == user_id)
            .order_by(FeedCounter.activity_type)
        )
        return {row.activity_type: (int(row.total), int(row.unread)) for row in result}

    async def unread_by_stream(self, tenant_id: str, user_id: str) -> dict[uuid.UUID, int]:
        """Unread items per stream, counted through the partial unread index."""
        result = await self.session.execute(
            select(FeedItem.stream_id, func.count())
            .where(FeedItem.tenant_id == tenant_id, FeedItem.user_id == user_id, ~FeedItem.is_read)
            .group_by(FeedItem.stream_id)
        )
        return dict(result.all())


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
            select(Outbox.tenant_id, Outbox.event_id, Outbox.event_occurred_at)
            .where(
                Outbox.processed_at.is_(None),
                Outbox.kind == "created",
                Outbox.created_at < before,
            )
            .order_by(Outbox.id)
            .limit(limit)
        )
        return [EventRef(r.tenant_id, r.event_id, r.event_occurred_at) for r in result]

    async def mark_processed(self, event_ids: Sequence[uuid.UUID], at: datetime) -> None:
        await self.session.execute(
            update(Outbox)
            .where(
                Outbox.event_id.in_(list(event_ids)),
                Outbox.kind == "created",
                Outbox.processed_at.is_(None),
            )
            .values(processed_at=at)
        )
