"""Fan-out through real commits, the arq worker and the outbox sweeper."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from arq.connections import ArqRedis, create_pool
from arq.worker import Worker
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Delivery, EventRef, create_session_factory
from app.main import create_app
from app.models import FeedCounter, FeedItem, Outbox
from app.services.feeds import feed_service
from app.settings import FanoutMode, Settings
from app.workers.fanout import sweep_outbox
from app.workers.queue import Queue, redis_settings
from app.workers.settings import WorkerSettings
from tests.conftest import Tokens


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[ArqRedis]:
    arq = await create_pool(redis_settings(settings))
    await arq.flushdb()
    yield arq
    await arq.aclose()


async def run_worker_until_idle(settings: Settings) -> None:
    worker = Worker(
        functions=WorkerSettings.functions,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=redis_settings(settings),
        ctx={"settings": settings},
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def async_client(
    settings: Settings, engine: AsyncEngine, redis: Redis, queue: Queue
) -> AsyncClient:
    app = create_app(settings, engine=engine, redis=redis)
    app.state.delivery = Delivery(FanoutMode.async_, queue.fan_out)
    return AsyncClient(transport=ASGITransport(app), base_url="http://test")


async def counts(engine: AsyncEngine, tenant: str) -> tuple[int, int, int]:
    """(feed items, unread by counters, unread rows)"""
    async with engine.connect() as conn:
        items = await conn.scalar(
            select(func.count()).select_from(FeedItem).where(FeedItem.tenant_id == tenant)
        )
        unread = await conn.scalar(
            select(func.coalesce(func.sum(FeedCounter.unread), 0)).where(
                FeedCounter.tenant_id == tenant
            )
        )
        unread_rows = await conn.scalar(
            select(func.count())
            .select_from(FeedItem)
            .where(FeedItem.tenant_id == tenant, ~FeedItem.is_read)
        )
    return int(items or 0), int(unread or 0), int(unread_rows or 0)


async def setup_subscribers(client: AsyncClient, tokens: Tokens, n: int) -> str:
    owner = tokens.headers("owner")
    created = await client.post("/api/streams/", json={"name": "Big"}, headers=owner)
    slug = str(created.json()["slug"])
    for i in range(n):
        response = await client.post(
            f"/api/streams/{slug}/subscribe/", json={}, headers=tokens.headers(f"u{i:04d}")
        )
        assert response.status_code == 201
    return slug


async def test_async_mode_delivers_through_the_worker(
    settings: Settings, engine: AsyncEngine, redis: Redis, pool: ArqRedis, tokens: Tokens
) -> None:
    queue = Queue(pool)
    async with await async_client(settings, engine, redis, queue) as client:
        slug = await setup_subscribers(client, tokens, 5)
        posted = await client.post(
            f"/api/streams/{slug}/add_event/",
            json={"event_type": "custom"},
            headers=tokens.headers("owner"),
        )
        assert posted.status_code == 201
    assert (await counts(engine, tokens.tenant))[0] == 0  # not yet: the worker delivers
    assert len(await pool.queued_jobs()) == 1
    await run_worker_until_idle(settings)
    assert await counts(engine, tokens.tenant) == (5, 5, 5)
    async with engine.connect() as conn:
        pending = await conn.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.tenant_id == tokens.tenant, Outbox.processed_at.is_(None))
        )
    assert pending == 0


async def test_events_posted_while_redis_is_down_are_swept_and_delivered_once(
    settings: Settings, engine: AsyncEngine, redis: Redis, pool: ArqRedis, tokens: Tokens
) -> None:
    dead = Queue(_DeadPool())  # type: ignore[arg-type]
    async with await async_client(settings, engine, redis, dead) as client:
        slug = await setup_subscribers(client, tokens, 3)
        for n in range(4):
            response = await client.post(
                f"/api/streams/{slug}/add_event/",
                json={"event_type": "custom", "summary": f"e{n}"},
                headers=tokens.headers("owner"),
            )
            assert response.status_code == 201  # recorded although the queue is unreachable
    assert await counts(engine, tokens.tenant) == (0, 0, 0)
    async with engine.begin() as conn:  # pretend the sweeper's grace period has passed
        await conn.execute(
            update(Outbox)
            .where(Outbox.tenant_id == tokens.tenant)
            .values(created_at=func.now() - text("interval '1 minute'"))
        )
    swept = await sweep_outbox({"session_factory": create_session_factory(engine), "redis": pool})
    assert swept >= 4
    await run_worker_until_idle(settings)
    assert await counts(engine, tokens.tenant) == (12, 12, 12)
    # a second sweep and run deliver nothing twice
    await sweep_outbox({"session_factory": create_session_factory(engine), "redis": pool})
    await run_worker_until_idle(settings)
    assert await counts(engine, tokens.tenant) == (12, 12, 12)


class _DeadPool:
    """Stands in for a queue whose Redis is unreachable: every enqueue fails."""

    async def enqueue_job(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Redis is down")

    async def aclose(self) -> None:
        return None


async def test_large_fan_out_in_chunks_is_exact_and_idempotent(
    committed_client: AsyncClient, tokens: Tokens, engine: AsyncEngine
) -> None:
    slug = await setup_subscribers(committed_client, tokens, 60)
    posted = await committed_client.post(
        f"/api/streams/{slug}/add_event/",
        json={"event_type": "custom"},
        headers=tokens.headers("owner"),
    )
    event = posted.json()
    assert await counts(engine, tokens.tenant) == (60, 60, 60)
    ref = EventRef(
        tokens.tenant,
        uuid.UUID(event["id"]),
        datetime.fromisoformat(event["occurred_at"]),
        uuid.UUID(event["stream_id"]),
    )
    factory = create_session_factory(engine)
    again = await feed_service.fan_out_committing(factory, ref, chunk=7)
    assert again == 0
    assert await counts(engine, tokens.tenant) == (60, 60, 60)


async def test_counters_stay_exact_under_concurrent_mark_read_and_fan_out(
    committed_client: AsyncClient, tokens: Tokens, engine: AsyncEngine
) -> None:
    slug = await setup_subscribers(committed_client, tokens, 8)
    owner = tokens.headers("owner")

    async def post(n: int) -> None:
        response = await committed_client.post(
            f"/api/streams/{slug}/add_event/",
            json={"event_type": "custom", "summary": str(n)},
            headers=owner,
        )
        assert response.status_code == 201

    async def mark(user: int) -> None:
        response = await committed_client.post(
            "/api/events/activity-feed/mark-read/",
            json={"mark_all": True},
            headers=tokens.headers(f"u{user:04d}"),
        )
        assert response.status_code == 200

    jobs = [post(n) for n in range(20)] + [mark(u % 8) for u in range(40)]
    order = list(range(len(jobs)))
    random.Random(7).shuffle(order)
    await asyncio.gather(*(jobs[i] for i in order))
    items, unread_counted, unread_rows = await counts(engine, tokens.tenant)
    assert items == 160
    assert unread_counted == unread_rows
    # Each user's badge (read through the pool, no session) matches their own rows.
    async with engine.connect() as conn:
        result = await conn.execute(
            select(FeedItem.user_id, func.count())
            .where(FeedItem.tenant_id == tokens.tenant, ~FeedItem.is_read)
            .group_by(FeedItem.user_id)
        )
        rows = {user: int(n) for user, n in result}
    for user in range(8):
        name = f"u{user:04d}"
        badge = await committed_client.get(
            "/api/events/activity-feed/unread-count/", headers=tokens.headers(name)
        )
        assert badge.json()["unread_count"] == rows.get(name, 0)


async def _recorded_not_delivered(
    settings: Settings, engine: AsyncEngine, redis: Redis, pool: ArqRedis, tokens: Tokens, n: int
) -> EventRef:
    """An event on a stream with `n` subscribers, recorded in async mode and not yet fanned
    out (its job waits in the queue)."""
    async with await async_client(settings, engine, redis, Queue(pool)) as client:
        slug = await setup_subscribers(client, tokens, n)
        posted = await client.post(
            f"/api/streams/{slug}/add_event/",
            json={"event_type": "custom"},
            headers=tokens.headers("owner"),
        )
    event = posted.json()
    ref = EventRef(
        tokens.tenant,
        uuid.UUID(event["id"]),
        datetime.fromisoformat(event["occurred_at"]),
        uuid.UUID(event["stream_id"]),
    )
    return ref


async def test_two_runs_of_one_fan_out_job_at_once_deliver_exactly_once(
    settings: Settings, engine: AsyncEngine, redis: Redis, pool: ArqRedis, tokens: Tokens
) -> None:
    ref = await _recorded_not_delivered(settings, engine, redis, pool, tokens, 30)
    factory = create_session_factory(engine)
    made = await asyncio.gather(
        feed_service.fan_out_committing(factory, ref, chunk=4),
        feed_service.fan_out_committing(factory, ref, chunk=4),
    )
    assert sum(made) == 30
    assert await counts(engine, tokens.tenant) == (30, 30, 30)
    async with engine.connect() as conn:
        cursor = await conn.scalar(
            select(Outbox.fanout_cursor).where(Outbox.event_id == ref.event_id)
        )
    assert cursor == "u0029"  # the last recipient, in user order


async def test_fan_out_after_a_backfill_got_there_first_skips_what_exists(
    settings: Settings, engine: AsyncEngine, redis: Redis, pool: ArqRedis, tokens: Tokens
) -> None:
    await _recorded_not_delivered(settings, engine, redis, pool, tokens, 6)
    async with await async_client(settings, engine, redis, Queue(pool)) as client:
        generated = await client.post(
            "/api/events/activity-feed/generate/",
            json={"user_id": "u0002", "days_back": 1},
            headers=tokens.headers("root", roles=["admin"]),
        )
    assert generated.json()["created_count"] == 1
    assert await counts(engine, tokens.tenant) == (1, 1, 1)
    await run_worker_until_idle(settings)
    assert await counts(engine, tokens.tenant) == (6, 6, 6)
