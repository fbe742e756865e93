"""Maintenance jobs: monthly partitions created ahead, expired idempotency keys."""

from __future__ import annotations

from typing import Any

from app.logging import log
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
