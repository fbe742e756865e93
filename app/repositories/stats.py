"""Growth figures: a tenant's from its counters (no rows counted), the database's from
PostgreSQL's catalog (estimates, as exact as the last ANALYZE)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text

from app.repositories.base import Repository

TENANT = text(
    """
SELECT (SELECT coalesce(sum(total), 0) FROM feed_counters WHERE tenant_id = :t) AS feed_items,
       (SELECT coalesce(sum(unread), 0) FROM feed_counters WHERE tenant_id = :t) AS unread,
       (SELECT count(DISTINCT user_id) FROM feed_counters WHERE tenant_id = :t AND total > 0)
           AS users_with_feeds,
       (SELECT coalesce(sum(event_count), 0) FROM streams WHERE tenant_id = :t) AS events,
       (SELECT count(*) FROM streams WHERE tenant_id = :t) AS streams,
       (SELECT count(*) FROM subscriptions WHERE tenant_id = :t) AS subscriptions,
       (SELECT count(*) FROM outbox WHERE tenant_id = :t AND processed_at IS NULL)
           AS outbox_pending
"""
)
TOP_USERS = text(
    """
SELECT user_id, sum(total)::bigint AS total, sum(unread)::bigint AS unread
  FROM feed_counters WHERE tenant_id = :t
 GROUP BY user_id HAVING sum(total) > 0 ORDER BY 2 DESC, 1 LIMIT :limit
"""
)
USER_BY_TYPE = text(
    """
SELECT activity_type, sum(total)::bigint AS total, sum(unread)::bigint AS unread
  FROM feed_counters WHERE tenant_id = :t AND user_id = :u
 GROUP BY activity_type ORDER BY activity_type
"""
)
# Every table of ours and, for partitioned ones, each partition with its bounds.
TABLES = text(
    """
SELECT parent.relname AS parent, child.relname AS name,
       pg_get_expr(child.relpartbound, child.oid) AS bound,
       greatest(child.reltuples, 0)::bigint AS rows,
       pg_total_relation_size(child.oid) AS bytes
  FROM pg_class parent
  LEFT JOIN pg_inherits i ON i.inhparent = parent.oid
  LEFT JOIN pg_class child ON child.oid = coalesce(i.inhrelid, parent.oid)
 WHERE parent.relnamespace = 'public'::regnamespace
   AND parent.relkind IN ('r', 'p') AND NOT parent.relispartition
   AND parent.relname <> 'alembic_version'
 ORDER BY parent.relname, child.relname
"""
)

# Events per UTC day from the rollup the recording statement keeps (soft deletes are
# already taken off it), so a month of millions of events reads a few thousand rows.
EVENTS_PER_DAY = text(
    """
SELECT day, sum(count)::bigint AS n FROM activity_rollup
 WHERE tenant_id = :t AND day >= :since GROUP BY day ORDER BY day
"""
)


@dataclass(frozen=True, slots=True)
class TableRow:
    parent: str
    name: str
    bound: str | None
    rows: int
    bytes: int


class StatsRepository(Repository):
    async def tenant(self, tenant_id: str) -> dict[str, int]:
        row = (await self.session.execute(TENANT, {"t": tenant_id})).one()
        return {k: int(v) for k, v in row._mapping.items()}

    async def top_users(self, tenant_id: str, limit: int) -> list[tuple[str, int, int]]:
        rows = await self.session.execute(TOP_USERS, {"t": tenant_id, "limit": limit})
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    async def user_by_type(self, tenant_id: str, user_id: str) -> dict[str, tuple[int, int]]:
        rows = await self.session.execute(USER_BY_TYPE, {"t": tenant_id, "u": user_id})
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    async def events_per_day(self, tenant_id: str, since: date) -> dict[date, int]:
        rows = await self.session.execute(EVENTS_PER_DAY, {"t": tenant_id, "since": since})
        return {r.day: int(r.n) for r in rows}

    async def tables(self) -> list[TableRow]:
        rows = await self.session.execute(TABLES)
        return [TableRow(r.parent, r.name, r.bound, int(r.rows), int(r.bytes)) for r in rows]
