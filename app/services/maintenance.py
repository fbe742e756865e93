"""Housekeeping the workers run on a schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.repositories.events import EventRepository

BATCH = 5_000


class MaintenanceService:
    async def expire_idempotency_keys(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        ttl: timedelta,
        now: datetime | None = None,
    ) -> int:
        """Forgets idempotency keys older than `ttl`, one committed batch at a time so a
        crash loses at most a batch of progress; returns how many were deleted."""
        before = (now or datetime.now(UTC)) - ttl
        total = 0
        while True:
            async with session_factory() as session, session.begin():
                deleted = await EventRepository(session).delete_idempotency_keys_before(
                    before, BATCH
                )
            total += deleted
            if deleted < BATCH:
                return total


maintenance_service = MaintenanceService()
