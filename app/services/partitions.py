"""Keeps monthly partitions created ahead of time for every time-partitioned table."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.repositories.partitions import PARTITIONED_TABLES, PartitionRepository


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


class PartitionService:
    async def ensure_ahead(
        self, session: AsyncSession, *, months_ahead: int, today: date | None = None
    ) -> dict[str, int]:
        """Creates partitions from last month to `months_ahead` months ahead, and for any
        month whose rows were caught by the default partition (moving them in); returns how
        many were created per table. Idempotent."""
        today = today or datetime.now(UTC).date()
        first, last = add_months(today, -1), add_months(today, months_ahead)
        repo = PartitionRepository(session)
        created: dict[str, int] = {}
        for table, key in PARTITIONED_TABLES:
            count = await repo.ensure_monthly(table, key, first, last)
            for month in await repo.stray_months(table, key):
                count += await repo.ensure_monthly(table, key, month, month)
            created[table] = count
        return created


partition_service = PartitionService()
