"""Maintenance jobs: monthly partitions created ahead, expired idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.db import transaction
from app.logging import log
from app.services.maintenance import maintenance_service
from app.services.milestones import milestone_service
from app.services.partitions import partition_service
from app.services.retention import retention_service


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


async def apply_retention(ctx: dict[str, Any]) -> dict[str, int]:
    """The daily cleanup (seed 002's 2 AM task): feed items past their type's retention,
    soft-deleted events past their grace, events past their type's keep, processed
    outbox rows; then events past their archive age move to the archive."""
    removed = await retention_service.cleanup(ctx["session_factory"])
    archived = await retention_service.archive_events(ctx["session_factory"])
    figures = {
        "feed_items": removed.total,
        "partitions": len(removed.partitions),
        "events": sum(removed.events.values()),
        "outbox": removed.outbox,
        "archived_events": archived.total,
    }
    log.info("retention.applied", skipped=removed.skipped, **figures)
    return figures


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
