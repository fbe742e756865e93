"""Per-user feeds (seed 002) and subscriptions (seed 000): fan-out, reads, read marks."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.db import EventRef, Reader, after_commit, delivery, driver
from app.enums import Importance
from app.errors import Forbidden, NotFound
from app.ids import new_id
from app.logging import log
from app.models import Stream, Subscription
from app.pagination import Page, PageRequest, page_of
from app.repositories.feeds import (
    Chunk,
    FeedEntry,
    FeedFilter,
    FeedReads,
    FeedRepository,
    OutboxRepository,
    SubscriptionRepository,
)
from app.repositories.streams import StreamRepository
from app.repositories.users import UserRepository
from app.result import Err, Ok, Result
from app.services.event_types import event_type_service
from app.services.live import LivePublisher, live
from app.settings import DEFAULT_FANOUT_CHUNK, FanoutMode

COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class FeedSummary:
    total_items: int
    unread_count: int
    activity_types: dict[str, int]
    recent: list[FeedEntry]


@dataclass(frozen=True, slots=True)
class Backfill:
    user_id: str
    created: int
    start: datetime
    end: datetime
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnreadCounts:
    total: int
    by_type: dict[str, int]
    subscriptions: list[tuple[uuid.UUID, str, int]]  # (subscription id, stream slug, unread)


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    stream: Stream
    unread_count: int


def age_display(at: datetime, now: datetime) -> str:
    seconds = max(int((now - at).total_seconds()), 0)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    if seconds < 7 * 86400:
        return f"{seconds // 86400}d ago"
    return at.strftime("%b %-d, %Y")


def _announce_after_commit(session: AsyncSession, event: EventRef, done: Chunk) -> None:
    """Tells the live layer, once the transaction commits, whom this chunk reached."""
    publisher = live(session)
    if publisher is None or not done.delivered or done.last is None:
        return
    after, last = done.after, done.last

    async def publish() -> None:
        await publisher.feed_delivered(event, after, last)

    after_commit(session, publish)


class FeedService:
    async def deliver(self, session: AsyncSession, events: Sequence[EventRef]) -> None:
        """Gets newly recorded events to their recipients' feeds, the way this session is
        configured: now, in the same transaction (sync), or by a worker after commit
        (async; the outbox row makes sure of it even if the hand-over fails)."""
        if not events:
            return
        how = delivery(session)
        if how.mode is FanoutMode.sync or how.enqueue is None:
            settled: set[uuid.UUID] = set()
            if len(events) > 1:  # a batch: those nobody follows are settled in one go
                settled = await FeedRepository(session).settle_unreachable(events)
            for event in events:
                if event.event_id not in settled:
                    await self.fan_out(session, event, chunk=how.chunk)
            return
        enqueue = how.enqueue

        async def hand_over() -> None:
            await enqueue(list(events))

        after_commit(session, hand_over)

    async def fan_out(
        self, session: AsyncSession, event: EventRef, *, chunk: int = DEFAULT_FANOUT_CHUNK
    ) -> int:
        """Delivers one event to all its recipients in this transaction (the one that
        recorded it: nobody else can have delivered any of it); returns how many new
        feed items it made (0 once its fan-out is done)."""
        repo = FeedRepository(session)
        total = 0
        while True:
            done = await repo.fan_out_chunk(event, limit=chunk)
            total += done.delivered
            _announce_after_commit(session, event, done)
            if not done.pending or done.considered < chunk:
                return total

    async def fan_out_committing(
        self,
        factory: async_sessionmaker[AsyncSession],
        event: EventRef,
        *,
        chunk: int = DEFAULT_FANOUT_CHUNK,
        publisher: LivePublisher | None = None,
    ) -> int:
        """The worker's fan-out: one transaction per chunk, each recording how far it
        got, so a crash loses at most the chunk in flight and a re-run (or a second
        worker on the same job) carries on from the last committed one.

        A chunk's commit does not wait for its WAL to reach the disk: a chunk is derived
        from the event and its outbox row, which the recording transaction committed
        durably, and the chunk's rows and its cursor are one transaction, so a server
        crash can only undo whole chunks, which the job then delivers again."""
        total = 0
        while True:
            try:
                async with factory() as session, session.begin():
                    repo = FeedRepository(session)
                    await repo.commit_without_waiting()
                    done = await repo.fan_out_chunk(event, limit=chunk)
            except IntegrityError:
                # A backfill delivered some of this chunk's items first.
                async with factory() as session, session.begin():
                    repo = FeedRepository(session)
                    await repo.commit_without_waiting()
                    done = await repo.fan_out_chunk(event, limit=chunk, tolerant=True)
            total += done.delivered
            if publisher is not None and done.delivered and done.last is not None:
                await publisher.feed_delivered(event, done.after, done.last)
            if not done.pending or done.considered < chunk:
                break
        log.info("fanout.completed", event_id=str(event.event_id), delivered=total)
        return total

    async def payloads(
        self,
        open_session: async_sessionmaker[AsyncSession],
        tenant_id: str,
        items: Sequence[FeedEntry],
    ) -> list[dict[str, Any]]:
        """Items in seed 002's shape (FeedItemRead), as plain values for orjson: the
        event's data is written through as the JSON text PostgreSQL returned."""
        labels = await event_type_service.labels(
            open_session, tenant_id, {i.activity_type for i in items}
        )
        now = datetime.now(UTC)
        return [
            {
                "id": item.event_id,
                "activity_type": item.activity_type,
                "activity_type_display": labels.get(item.activity_type, item.activity_type),
                "title": item.title,
                "description": item.description,
                "is_read": item.is_read,
                "read_at": item.read_at,
                "created_at": item.created_at,
                "age_display": age_display(item.created_at, now),
                "data": orjson.Fragment(item.data_json),
                "target_type": item.target_type,
                "target_id": item.target_id,
                "event_id": item.event_id,
                "stream_id": item.stream_id,
            }
            for item in items
        ]

    async def pending(
        self, session: AsyncSession, *, older_than: timedelta, limit: int
    ) -> list[EventRef]:
        """Events recorded more than `older_than` ago whose fan-out has not completed."""
        before = datetime.now(UTC) - older_than
        return await OutboxRepository(session).pending(before, limit)

    async def page(
        self, reader: Reader, *, actor: Principal, filters: FeedFilter, page: PageRequest
    ) -> Page[FeedEntry]:
        async with reader.connection() as conn:
            return await self._page(FeedReads(conn), actor, filters, page)

    async def _page(
        self, repo: FeedReads, actor: Principal, filters: FeedFilter, page: PageRequest
    ) -> Page[FeedEntry]:
        items = await repo.page(
            actor.tenant_id,
            actor.user_id,
            filters,
            cursor=page.cursor,
            limit=page.page_size,
            offset=page.offset,
        )
        if filters.counted_by_counters:
            counters = await repo.counters(actor.tenant_id, actor.user_id)
            wanted = filters.activity_types or list(counters)
            picked = [counters.get(t, (0, 0)) for t in wanted]
            if filters.is_read is None:
                total = sum(t for t, _ in picked)
            elif filters.is_read:
                total = sum(t - u for t, u in picked)
            else:
                total = sum(u for _, u in picked)
        else:
            total = await repo.count(actor.tenant_id, actor.user_id, filters, cap=COUNT_CAP)
        return page_of(items, total, page.page_size, lambda i: (i.created_at, i.event_id))

    async def summary(self, reader: Reader, *, actor: Principal) -> FeedSummary:
        """Seed 002's summary, from the counters (no rows counted) and the 5 newest items."""
        async with reader.connection() as conn:
            repo = FeedReads(conn)
            counters = await repo.counters(actor.tenant_id, actor.user_id)
            recent = await repo.page(
                actor.tenant_id, actor.user_id, FeedFilter(), cursor=None, limit=5
            )
        return FeedSummary(
            total_items=sum(t for t, _ in counters.values()),
            unread_count=sum(u for _, u in counters.values()),
            activity_types={k: t for k, (t, _) in counters.items() if t},
            recent=recent[:5],
        )

    async def mark_read(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        ids: Sequence[uuid.UUID] | None = None,
        stream_id: uuid.UUID | None = None,
    ) -> int:
        """Marks the caller's own unread items read (others' ids simply match nothing);
        the caller's sockets hear of it once the transaction has committed."""
        updated = await FeedRepository(session).mark_read(
            actor.tenant_id, actor.user_id, ids=ids, stream_id=stream_id
        )
        publisher = live(session)
        if publisher is not None and updated:
            tenant_id, user_id = actor.tenant_id, actor.user_id
            marked = list(ids) if ids is not None else None

            async def publish() -> None:
                await publisher.feed_read(tenant_id, user_id, marked, stream_id, updated)

            after_commit(session, publish)
        return updated

    async def generate(
        self, session: AsyncSession, *, actor: Principal, user_id: str, days_back: int
    ) -> Result[Backfill, Forbidden | NotFound]:
        """Seed 002's admin `generate`: fills a user's feed with the events of the streams
        they follow from the last `days_back` days (what is already there stays)."""
        if not actor.is_admin:
            return Err(Forbidden("generating feeds needs the admin role"))
        known = await UserRepository(session).get_many(actor.tenant_id, [user_id])
        if user_id not in known:
            return Err(NotFound(f"user {user_id!r} not found", {"user_id": user_id}))
        end = datetime.now(UTC)
        start = end - timedelta(days=days_back)
        created = await FeedRepository(session).backfill(actor.tenant_id, user_id, start)
        return Ok(Backfill(user_id, created, start, end))

    async def populate(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        user_id: str | None,
        days_back: int,
        dry_run: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Backfill]:
        """Seed 002's `populate_activity_feeds`: backfills every subscriber's feed (or one
        user's), one transaction per user; a dry run only counts."""
        end = datetime.now(UTC)
        start = end - timedelta(days=days_back)
        async with factory() as session:
            people = await FeedRepository(session).subscribers(None, user_id)
        done: list[Backfill] = []
        for n, (tenant_id, uid) in enumerate(people, 1):
            async with factory() as session, session.begin():
                created = await FeedRepository(session).backfill(
                    tenant_id, uid, start, dry_run=dry_run
                )
            done.append(Backfill(uid, created, start, end, tenant_id))
            if progress is not None:
                progress(n, len(people))
        return done

    async def unread_by_type(self, reader: Reader, *, actor: Principal) -> dict[str, int]:
        """Unread items per activity type, from the counters (no rows counted)."""
        async with reader.connection() as conn:
            return await FeedReads(conn).unread_by_type(actor.tenant_id, actor.user_id)


class SubscriptionService:
    async def subscribe(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        slug: str,
        subscription_type: str,
        notify_email: bool,
        notify_push: bool,
        min_importance: Importance,
    ) -> Result[tuple[SubscriptionView, bool], NotFound]:
        """Follows (or re-configures) a stream; the stream's subscriber_count moves only
        when a subscription is created, in the same transaction."""
        stream = await StreamRepository(session).get_by_slug(actor.tenant_id, slug)
        if stream is None:
            return Err(NotFound(f"stream {slug!r} not found", {"slug": slug}))
        repo = SubscriptionRepository(session)
        subscription, created = await repo.upsert(
            {
                "id": new_id(),
                "tenant_id": actor.tenant_id,
                "user_id": actor.user_id,
                "stream_id": stream.id,
                "subscription_type": subscription_type,
                "notify_email": notify_email,
                "notify_push": notify_push,
                "min_importance": int(min_importance),
            }
        )
        if created:
            await repo.bump_subscriber_count(stream.id, +1)
        return Ok((SubscriptionView(subscription, stream, 0), created))

    async def unsubscribe(
        self, session: AsyncSession, *, actor: Principal, slug: str
    ) -> Result[bool, NotFound]:
        stream = await StreamRepository(session).get_by_slug(actor.tenant_id, slug)
        if stream is None:
            return Err(NotFound(f"stream {slug!r} not found", {"slug": slug}))
        repo = SubscriptionRepository(session)
        removed = await repo.delete(actor.tenant_id, stream.id, actor.user_id)
        if removed:
            await repo.bump_subscriber_count(stream.id, -1)
        return Ok(removed)

    async def reconfigure(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        subscription_id: uuid.UUID,
        subscription_type: str,
        notify_email: bool,
        notify_push: bool,
        min_importance: Importance,
    ) -> Result[Subscription, NotFound | Forbidden]:
        """An admin changes how one of the tenant's users follows a stream."""
        if not actor.is_admin:
            return Err(Forbidden("other users' subscriptions are changed by admins"))
        subscription = await SubscriptionRepository(session).by_id(actor.tenant_id, subscription_id)
        if subscription is None:
            return Err(NotFound(f"subscription {subscription_id} not found"))
        subscription.subscription_type = subscription_type
        subscription.notify_email = notify_email
        subscription.notify_push = notify_push
        subscription.min_importance = int(min_importance)
        subscription.updated_at = datetime.now(UTC)
        await session.flush()
        return Ok(subscription)

    async def remove(
        self, session: AsyncSession, *, actor: Principal, subscription_id: uuid.UUID
    ) -> Result[None, NotFound | Forbidden]:
        """An admin unsubscribes one of the tenant's users (the stream's subscriber count
        follows, as with the user's own unsubscribe)."""
        if not actor.is_admin:
            return Err(Forbidden("other users' subscriptions are removed by admins"))
        repo = SubscriptionRepository(session)
        subscription = await repo.by_id(actor.tenant_id, subscription_id)
        if subscription is None:
            return Err(NotFound(f"subscription {subscription_id} not found"))
        if await repo.delete(actor.tenant_id, subscription.stream_id, subscription.user_id):
            await repo.bump_subscriber_count(subscription.stream_id, -1)
        return Ok(None)

    async def mark_stream_read(
        self, session: AsyncSession, *, actor: Principal, slug: str
    ) -> Result[int, NotFound]:
        stream = await StreamRepository(session).get_by_slug(actor.tenant_id, slug)
        if stream is None:
            return Err(NotFound(f"stream {slug!r} not found", {"slug": slug}))
        return Ok(await self._mark_read(session, actor, stream.id))

    async def mark_subscription_read(
        self, session: AsyncSession, *, actor: Principal, subscription_id: uuid.UUID
    ) -> Result[int, NotFound]:
        found = await SubscriptionRepository(session).get(
            actor.tenant_id, actor.user_id, subscription_id
        )
        if found is None:
            return Err(NotFound(f"subscription {subscription_id} not found"))
        return Ok(await self._mark_read(session, actor, found[1].id))

    async def _mark_read(
        self, session: AsyncSession, actor: Principal, stream_id: uuid.UUID
    ) -> int:
        repo = SubscriptionRepository(session)
        subscription = await repo.for_stream(actor.tenant_id, actor.user_id, stream_id)
        if subscription is not None:
            await repo.touch_read(subscription, datetime.now(UTC))
        return await feed_service.mark_read(session, actor=actor, stream_id=stream_id)

    async def unread_counts(self, reader: Reader, *, actor: Principal) -> UnreadCounts:
        """The caller's unread items in all, per activity type and per subscription,
        summed from their counters (named-recipient items of streams they do not follow
        count in the total and per type only)."""
        async with reader.connection() as conn:
            cells, subscribed = await FeedReads(conn).unread_counts(actor.tenant_id, actor.user_id)
        by_type: dict[str, int] = {}
        by_stream: dict[uuid.UUID, int] = {}
        for stream_id, activity_type, unread in cells:
            by_type[activity_type] = by_type.get(activity_type, 0) + unread
            by_stream[stream_id] = by_stream.get(stream_id, 0) + unread
        return UnreadCounts(
            total=sum(by_type.values()),
            by_type=dict(sorted(by_type.items())),
            subscriptions=[
                (sid, slug, by_stream.get(stream, 0)) for sid, slug, stream in subscribed
            ],
        )

    async def mine(self, session: AsyncSession, *, actor: Principal) -> list[SubscriptionView]:
        rows = await SubscriptionRepository(session).mine(actor.tenant_id, actor.user_id)
        unread = await FeedReads(await driver(session)).unread_by_stream(
            actor.tenant_id, actor.user_id
        )
        return [SubscriptionView(sub, stream, unread.get(stream.id, 0)) for sub, stream in rows]

    async def get(
        self, session: AsyncSession, *, actor: Principal, subscription_id: uuid.UUID
    ) -> Result[SubscriptionView, NotFound]:
        found = await SubscriptionRepository(session).get(
            actor.tenant_id, actor.user_id, subscription_id
        )
        if found is None:
            return Err(NotFound(f"subscription {subscription_id} not found"))
        sub, stream = found
        unread = await FeedReads(await driver(session)).unread_by_stream(
            actor.tenant_id, actor.user_id
        )
        return Ok(SubscriptionView(sub, stream, unread.get(stream.id, 0)))


feed_service = FeedService()
subscription_service = SubscriptionService()
