"""Maintenance jobs: monthly partitions created ahead, expired idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.db import transaction
from app.logging import log
from app.services.maintenance import maintenance_service
from app.services.milestones import milestone_service
from app.services.partitions import partition_service


async def maintain_partitions(ctx: dict[str, Any]) -> dict[str, int]:
    """Keeps partitions created `partitions_ahead_months` ahead; idempotent, so a cron run
    after a missed one (or on two workers) does no harm."""
    async with ctx["session_factory"]() as session, session.begin():
        created = await partition_service.ensure_ahead(
            session, months_ahead=ctx["settings"].partitions_ahead_months
        )
    log.info("partitions.maintained", created=created)
    return created


async def expire_idempotency_keys(ctx: dict[str, Any]) -> int:
    ttl = timedelta(days=ctx["settings"].idempotency_key_ttl_days)
    deleted = await maintenance_service.expire_idempotency_keys(ctx["session_factory"], ttl=ttl)
    log.info("idempotency_keys.expired", deleted=deleted)
    return deleted


async def mark_overdue_milestones(ctx: dict[str, Any]) -> int:
    """Announces newly overdue milestones, one committed batch at a time."""
    total = 0
    while True:
        async with transaction(ctx["session_factory"], ctx["prepare"]) as session:
            marked = await milestone_service.mark_overdue(session, now=datetime.now(UTC))
        total += marked
        if marked == 0:
            break
    if total:
        log.info("milestones.overdue", marked=total)
    return total
