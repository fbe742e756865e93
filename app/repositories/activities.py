"""The activity rollup behind the stats endpoint (seed 004's materialized view)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import CTE, Date, cast, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import ColumnElement

from app.models import ActivityRollup
from app.repositories.base import Repository

ROLLUP_KEY = ("tenant_id", "day", "event_type", "status", "user_id", "shard")
ROLLUP_SHARDS = 16


def pick_shard() -> int:
    return random.randrange(ROLLUP_SHARDS)


def utc_day(at: ColumnElement[datetime]) -> ColumnElement[date]:
    return cast(func.timezone("UTC", at), Date)


def rollup_user(
    assigned_to: ColumnElement[Any], actor_id: ColumnElement[Any]
) -> ColumnElement[str]:
    """Whose activity it is: the assignee (seed 004), else whoever did it."""
    return func.coalesce(assigned_to, actor_id, "")


def rollup_upsert(events: CTE, shard: ColumnElement[int]) -> CTE:
    """A CTE adding the events of `events` (an INSERT ... RETURNING CTE) to the rollup.
    Rows are grouped (one upsert per key) and sorted (concurrent batches take row locks
    in one order)."""
    keys = (
        events.c.tenant_id,
        utc_day(events.c.occurred_at),
        events.c.event_type,
        func.coalesce(events.c.status, ""),
        rollup_user(events.c.assigned_to, events.c.actor_id),
    )
    grouped = select(*keys, shard, func.count()).group_by(*keys).order_by(*keys)
    stmt = pg_insert(ActivityRollup).from_select([*ROLLUP_KEY, "count"], grouped)
    return stmt.on_conflict_do_update(
        index_elements=list(ROLLUP_KEY),
        set_={"count": ActivityRollup.count + stmt.excluded.count},
    ).cte("ru")


class ActivityRepository(Repository):
    async def adjust(
        self,
        *,
        tenant_id: str,
        day: date,
        event_type: str,
        status: str | None,
        user_id: str | None,
        delta: int,
    ) -> None:
        stmt = pg_insert(ActivityRollup).values(
            tenant_id=tenant_id,
            day=day,
            event_type=event_type,
            status=status or "",
            user_id=user_id or "",
            shard=pick_shard(),
            count=delta,
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=list(ROLLUP_KEY),
                set_={"count": ActivityRollup.count + stmt.excluded.count},
            )
        )

    async def stats(
        self, tenant_id: str, first: date, last: date, dimensions: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Counts and distinct users per combination of `dimensions` (day, event_type,
        status) over [first, last]. Shards (and decrements from edits and deletes) are
        summed per user first, so a user counts only where they still have events."""
        columns = {
            "day": ActivityRollup.day,
            "event_type": ActivityRollup.event_type,
            "status": ActivityRollup.status,
        }
        per_user = (
            select(
                *(columns[d].label(d) for d in dimensions),
                ActivityRollup.user_id,
                func.sum(ActivityRollup.count).label("n"),
            )
            .where(
                ActivityRollup.tenant_id == tenant_id,
                ActivityRollup.day >= first,
                ActivityRollup.day <= last,
            )
            .group_by(*(columns[d] for d in dimensions), ActivityRollup.user_id)
            .having(func.sum(ActivityRollup.count) > 0)
            .subquery("per_user")
        )
        group = [per_user.c[d] for d in dimensions]
        stmt = (
            select(
                *group,
                func.sum(per_user.c.n).label("count"),
                func.count().filter(per_user.c.user_id != "").label("user_count"),
            )
            .group_by(*group)
            .order_by(*group)
        )
        return [dict(row._mapping) for row in await self.session.execute(stmt)]
