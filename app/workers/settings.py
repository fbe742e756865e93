"""`tidings worker` runs arq with these settings."""

from __future__ import annotations

from typing import Any, ClassVar

from arq import cron, func
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Delivery, create_engine, create_session_factory, set_delivery
from app.logging import configure_logging
from app.services.live import LivePublisher, set_live
from app.settings import FanoutMode, Settings, get_settings
from app.workers.fanout import MAX_TRIES, fan_out, sweep_outbox
from app.workers.maintenance import (
    apply_retention,
    expire_idempotency_keys,
    maintain_partitions,
    mark_overdue_milestones,
)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    ctx["settings"] = settings
    ctx["engine"] = create_engine(settings)
    ctx["session_factory"] = create_session_factory(ctx["engine"])
    # What the worker records (overdue milestones) and delivers reaches live sockets too.
    publisher = LivePublisher.over(ctx["redis"])
    ctx["live"] = publisher
    delivery = Delivery(FanoutMode.sync, chunk=settings.fanout_chunk_size)

    def prepare(session: AsyncSession) -> None:
        set_delivery(session, delivery)
        set_live(session, publisher)

    ctx["prepare"] = prepare


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["engine"].dispose()


# The cron schedule is fixed when the worker starts, from TIDINGS_RETENTION_HOUR/_MINUTE.
_SETTINGS = get_settings()
RETENTION_TIMEOUT = 6 * 3600  # a large first cleanup may take a while; it commits per batch


class WorkerSettings:
    functions: ClassVar[list[Any]] = [
        # keep_result=0: a finished fan-out leaves no result behind, so the sweeper may
        # queue the same event again if its outbox row is somehow still pending.
        func(fan_out, max_tries=MAX_TRIES, keep_result=0),
        sweep_outbox,
        maintain_partitions,
        expire_idempotency_keys,
        mark_overdue_milestones,
        func(apply_retention, timeout=RETENTION_TIMEOUT),
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(
            apply_retention,
            hour={_SETTINGS.retention_hour},
            minute={_SETTINGS.retention_minute},
            unique=True,
            timeout=RETENTION_TIMEOUT,
        ),
        cron(maintain_partitions, hour={3}, minute={17}, run_at_startup=True, unique=True),
        cron(expire_idempotency_keys, minute={41}, unique=True),
        cron(sweep_outbox, second={0}, unique=True, run_at_startup=True),
        cron(mark_overdue_milestones, minute={0, 15, 30, 45}, unique=True, run_at_startup=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    max_tries = 3
