"""Fan-out jobs: deliver one event to its recipients' feeds; sweep what was missed."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from arq import Retry

from app.db import EventRef
from app.logging import log
from app.services.feeds import feed_service
from app.workers.queue import enqueue_fan_out

MAX_TRIES = 3
SWEEP_AFTER = timedelta(seconds=30)
SWEEP_BATCH = 1_000


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` + 1: exponential with jitter (5 s, 10 s, ... ± 50%)."""
    base: float = 5 * 2 ** (attempt - 1)
    return base * random.uniform(0.5, 1.5)


async def fan_out(
    ctx: dict[str, Any], tenant_id: str, event_id: str, occurred_at: str, stream_id: str
) -> int:
    event = EventRef(
        tenant_id, uuid.UUID(event_id), datetime.fromisoformat(occurred_at), uuid.UUID(stream_id)
    )
    try:
        return await feed_service.fan_out_committing(
            ctx["session_factory"],
            event,
            chunk=ctx["settings"].fanout_chunk_size,
            publisher=ctx.get("live"),
        )
    except Exception as exc:
        attempt = int(ctx.get("job_try", 1))
        if attempt < MAX_TRIES:
            log.warning("fanout.retry", event_id=event_id, attempt=attempt, error=str(exc))
            raise Retry(defer=backoff(attempt)) from exc
        log.error("fanout.failed", event_id=event_id, error=str(exc))
        raise


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Queues fan-out for events whose outbox row is still pending a while after they
    were recorded (Redis was down, a worker died, a job ran out of tries)."""
    async with ctx["session_factory"]() as session:
        pending = await feed_service.pending(session, older_than=SWEEP_AFTER, limit=SWEEP_BATCH)
    for event in pending:
        await enqueue_fan_out(ctx["redis"], event)
    if pending:
        log.info("outbox.swept", queued=len(pending))
    return len(pending)
