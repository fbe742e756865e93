"""Growth figures for operators (issue 7's stats; issue 8's dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Forbidden
from app.repositories.stats import StatsRepository
from app.result import Err, Ok, Result

TOP_USERS = 10


@dataclass(frozen=True, slots=True)
class Stats:
    tenant: dict[str, int]
    top_users: list[dict[str, Any]]
    user: dict[str, Any] | None
    tables: list[dict[str, Any]] | None
    generated_at: datetime


def user_stats(user_id: str, by_type: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """Seed 002's get_user_feed_stats, from the counters."""
    total = sum(t for t, _ in by_type.values())
    unread = sum(u for _, u in by_type.values())
    return {
        "user_id": user_id,
        "total_items": total,
        "unread_count": unread,
        "read_count": total - unread,
        "activity_types": {k: t for k, (t, _) in by_type.items() if t},
    }


class StatsService:
    async def stats(
        self, session: AsyncSession, *, actor: Principal, user_id: str | None = None
    ) -> Result[Stats, Forbidden]:
        """The tenant's figures for its admins; the database's tables and partitions too
        for operators (they are every tenant's)."""
        if not actor.is_admin and not actor.is_operator:
            return Err(Forbidden("stats are for admins"))
        repo = StatsRepository(session)
        top = [
            {
                "user_id": u,
                "total_items": t,
                "unread_count": n,
                "read_count": t - n,
                "activity_types": {},
            }
            for u, t, n in await repo.top_users(actor.tenant_id, TOP_USERS)
        ]
        user = None
        if user_id is not None:
            user = user_stats(user_id, await repo.user_by_type(actor.tenant_id, user_id))
        tables = None
        if actor.is_operator:
            grouped: dict[str, dict[str, Any]] = {}
            for row in await repo.tables():
                table = grouped.setdefault(
                    row.parent, {"name": row.parent, "rows": 0, "bytes": 0, "partitions": []}
                )
                table["rows"] += row.rows
                table["bytes"] += row.bytes
                if row.name != row.parent:
                    table["partitions"].append(
                        {"name": row.name, "range": row.bound, "rows": row.rows, "bytes": row.bytes}
                    )
            tables = list(grouped.values())
        return Ok(
            Stats(
                tenant=await repo.tenant(actor.tenant_id),
                top_users=top,
                user=user,
                tables=tables,
                generated_at=datetime.now(UTC),
            )
        )

    async def events_per_day(
        self, session: AsyncSession, *, actor: Principal, days: int = 30, today: date | None = None
    ) -> Result[list[tuple[date, int]], Forbidden]:
        """The tenant's events on each of the last `days` UTC days, today last, zeros
        included (a chart's bars)."""
        if not actor.is_admin and not actor.is_operator:
            return Err(Forbidden("stats are for admins"))
        last = today or datetime.now(UTC).date()
        first = last - timedelta(days=days - 1)
        counts = await StatsRepository(session).events_per_day(actor.tenant_id, first)
        span = [first + timedelta(days=n) for n in range(days)]
        return Ok([(day, counts.get(day, 0)) for day in span])


stats_service = StatsService()
