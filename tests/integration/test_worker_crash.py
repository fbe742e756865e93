"""A worker killed in the middle of a large fan-out: after recovery every subscriber has
the event exactly once and the counters match the rows."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from datetime import datetime

import pytest
from arq.connections import create_pool
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Delivery, EventRef
from app.ids import new_id
from app.main import create_app
from app.models import FeedItem
from app.settings import FanoutMode, Settings
from app.workers.queue import Queue, fan_out_job_id, redis_settings
from tests.conftest import Tokens
from tests.integration.test_fanout import counts, run_worker_until_idle

SUBSCRIBERS = 20_000


async def fill_stream(engine: AsyncEngine, tenant: str) -> str:
    stream_id = new_id()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO tenants (id) VALUES (:t)"), {"t": tenant})
        await conn.execute(
            text(
                "INSERT INTO users (tenant_id, id) SELECT :t, 'u' || lpad(n::text, 6, '0') "
                "FROM generate_series(1, :n) AS n"
            ),
            {"t": tenant, "n": SUBSCRIBERS},
        )
        await conn.execute(
            text(
                "INSERT INTO streams (id, tenant_id, slug, name, stream_type) "
                "VALUES (:id, :t, 'crowd', 'Crowd', 'general')"
            ),
            {"id": stream_id, "t": tenant},
        )
        await conn.execute(
            text(
                "INSERT INTO subscriptions (id, tenant_id, user_id, stream_id, subscription_type) "
                "SELECT gen_random_uuid(), tenant_id, id, :s, 'follow' "
                "FROM users WHERE tenant_id = :t"
            ),
            {"t": tenant, "s": stream_id},
        )
    return "crowd"


@pytest.mark.slow
async def test_worker_killed_mid_fan_out_delivers_exactly_once_after_recovery(
    settings: Settings, engine: AsyncEngine, tokens: Tokens
) -> None:
    pool = await create_pool(redis_settings(settings))
    await pool.flushdb()
    slug = await fill_stream(engine, tokens.tenant)
    app = create_app(settings, engine=engine, redis=pool)
    app.state.delivery = Delivery(FanoutMode.async_, Queue(pool).fan_out)
    async with AsyncClient(transport=ASGITransport(app), base_url="http://test") as client:
        posted = await client.post(
            f"/api/streams/{slug}/add_event/",
            json={"event_type": "custom"},
            headers=tokens.headers("owner"),
        )
    assert posted.status_code == 201
    event = EventRef(
        tokens.tenant,
        uuid.UUID(posted.json()["id"]),
        datetime.fromisoformat(posted.json()["occurred_at"]),
        uuid.UUID(posted.json()["stream_id"]),
    )

    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": settings.database_url or "",
        "TIDINGS_REDIS_URL": settings.redis_url or "",
        "TIDINGS_JWT_SECRET": "worker-test-secret-0123456789abcdef",
        "TIDINGS_ENVIRONMENT": "test",
        "TIDINGS_FANOUT_CHUNK_SIZE": "200",
        "TIDINGS_LOG_LEVEL": "WARNING",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        delivered = 0
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                delivered = int(
                    await conn.scalar(
                        select(func.count())
                        .select_from(FeedItem)
                        .where(FeedItem.tenant_id == tokens.tenant)
                    )
                    or 0
                )
            if delivered >= 2_000:
                break
            await asyncio.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 10)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    stopped_at = (await counts(engine, tokens.tenant))[0]
    assert 0 < stopped_at < SUBSCRIBERS, "the kill must land mid-way"

    # The dead worker's claim on the job expires (arq's job timeout); then any worker
    # picks the job up again and finishes it.
    await pool.delete("arq:in-progress:" + fan_out_job_id(event))
    await run_worker_until_idle(settings.model_copy(update={"fanout_chunk_size": 5000}))
    assert await counts(engine, tokens.tenant) == (SUBSCRIBERS, SUBSCRIBERS, SUBSCRIBERS)
    await pool.aclose()
