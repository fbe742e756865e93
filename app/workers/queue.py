"""Handing work to the workers: the one place outside the worker that talks to arq."""

from __future__ import annotations

from collections.abc import Sequence

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from app.db import EventRef
from app.logging import log
from app.settings import Settings


def redis_settings(settings: Settings) -> RedisSettings:
    if settings.redis_url is None:
        raise RuntimeError("TIDINGS_REDIS_URL is not set and no embedded server is running")
    return RedisSettings.from_dsn(settings.redis_url)


def fan_out_job_id(event: EventRef) -> str:
    # One queued job per event: a sweep that finds it still pending adds nothing.
    return f"fanout:{event.event_id}"


class Queue:
    def __init__(self, pool: ArqRedis) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, settings: Settings) -> Queue:
        return cls(await create_pool(redis_settings(settings)))

    async def fan_out(self, events: Sequence[EventRef]) -> None:
        """Queues a fan-out job per event. A failure here loses nothing: the event's
        outbox row stays pending and the sweeper queues it again."""
        for event in events:
            try:
                await enqueue_fan_out(self._pool, event)
            except Exception as exc:  # Redis down: the outbox sweeper recovers
                log.warning("fanout.enqueue_failed", event_id=str(event.event_id), error=str(exc))

    async def close(self) -> None:
        await self._pool.aclose()


async def enqueue_fan_out(pool: ArqRedis, event: EventRef) -> None:
    await pool.enqueue_job(
        "fan_out",
        event.tenant_id,
        str(event.event_id),
        event.occurred_at.isoformat(),
        str(event.stream_id),
        _job_id=fan_out_job_id(event),
    )
