"""Retention's SQL: policies, the expiry of feed items and events row by row or a month's
partition at a time, and the moves into the archives. Every statement that removes feed
items takes them off the counters in the same statement, from the rows it removed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from app.models import Event, FeedItem, RetentionPolicy, RetiringPartition
from app.repositories.base import Repository
from app.repositories.partitions import ARCHIVES

CHECK_VIOLATION = "23514"  # an ATTACH whose month the archive's default holds rows of

# Feed columns, in the order the live table and its archive declare them.
FEED_COLUMNS = ", ".join(c.name for c in FeedItem.__table__.columns)
# Events' columns but the generated search vector (an insert may not name it).
EVENT_COLUMNS = ", ".join(c.name for c in Event.__table__.columns if c.name != "search")

# Counters lose what the removed rows added (`gone` is a CTE of removed feed rows), by
# an upsert fed in key order: it takes the cells' row locks in that order, as fan-out's
# upserts do, so a batch and a fan-out never wait on each other in a cycle whatever plan
# the statement gets (an UPDATE ... FROM locks in its join's order). The cells exist (the
# rows were counted), so the upsert always updates.
_UNCOUNT_FROM = """
    INSERT INTO feed_counters AS c
           (tenant_id, user_id, stream_id, activity_type, total, unread)
    SELECT tenant_id, user_id, stream_id, activity_type, -count(*),
           -count(*) FILTER (WHERE NOT is_read)
      FROM {rows}
     GROUP BY tenant_id, user_id, stream_id, activity_type
     ORDER BY tenant_id, user_id, stream_id, activity_type
    ON CONFLICT (tenant_id, user_id, stream_id, activity_type)
    DO UPDATE SET total = c.total + EXCLUDED.total, unread = c.unread + EXCLUDED.unread
"""
_UNCOUNT = f"""
, uncounted AS ({_UNCOUNT_FROM.format(rows="gone")})"""

# A tenant's rules: each activity type with its cutoff, as a relation to join.
_RULES = """
WITH rules AS (
    SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:cutoffs AS timestamptz[]))
        AS r(kind, cutoff)
)"""
# The expired items of a batch of a tenant's users, (after, last], each type against its
# own cutoff, in one pass over the batch's rows older than the latest cutoff (the key
# leads with the user, so a batch reads only its users' rows, in the old partitions).
_EXPIRE_FEED = f"""{_RULES}, gone AS (
    DELETE FROM feed_items f USING rules r
     WHERE f.tenant_id = :tenant_id AND f.user_id > :after AND f.user_id <= :last
       AND f.created_at < :latest AND f.activity_type = r.kind AND f.created_at < r.cutoff
    RETURNING {", ".join("f." + c for c in FEED_COLUMNS.split(", "))}
){_UNCOUNT}{{archive}}
SELECT activity_type, count(*) FROM gone GROUP BY activity_type
"""
_ARCHIVE_GONE = f"""
, archived AS (
    INSERT INTO feed_items_archive ({FEED_COLUMNS}) SELECT {FEED_COLUMNS} FROM gone
)"""
EXPIRE_FEED = text(_EXPIRE_FEED.format(archive=""))
ARCHIVE_FEED = text(_EXPIRE_FEED.format(archive=_ARCHIVE_GONE))
COUNT_EXPIRED_FEED = text(
    _RULES
    + """
SELECT f.activity_type, count(*)
  FROM feed_items f JOIN rules r ON f.activity_type = r.kind
 WHERE f.tenant_id = :tenant_id AND f.created_at < :latest AND f.created_at < r.cutoff
   AND CAST(f.tableoid AS regclass)::text <> ALL(CAST(:whole AS text[]))
 GROUP BY f.activity_type
"""
)

# Whether a tenant has anything past its cutoffs: one scan of the rows older than the
# latest cutoff at most (what a walk of every user's batch, finding nothing, would read
# too), and it stops at the first expired row, which most days is at once.
HAS_EXPIRED_FEED = text(
    _RULES
    + """
SELECT EXISTS (
    SELECT 1 FROM feed_items f JOIN rules r ON f.activity_type = r.kind
     WHERE f.tenant_id = :tenant_id AND f.created_at < :latest AND f.created_at < r.cutoff)
"""
)

# The next users (in key order) who have items of any of the types: one batch's range.
USERS_WITH_TYPES = text(
    """
SELECT user_id FROM (
    SELECT DISTINCT user_id FROM feed_counters
     WHERE tenant_id = :tenant_id AND activity_type = ANY(CAST(:kinds AS text[]))
       AND total > 0 AND user_id > :after
     ORDER BY user_id LIMIT :limit) AS next_users
 ORDER BY user_id
"""
)

# A month past every retention leaves the feed at once (detached and renamed under a
# brief lock of the feed); its rows then come off the counters a batch of (tenant, user)
# at a time, from the detached table, with the batch's end kept in retiring_partitions.
PARTITION_COUNTS = """
SELECT tenant_id, activity_type, count(*) FROM {partition} GROUP BY tenant_id, activity_type
"""
RETIRING_USERS = """
SELECT tenant_id, user_id FROM (
    SELECT DISTINCT tenant_id, user_id FROM {table}
     WHERE (tenant_id, user_id) > (:tenant_id, :user_id)
     ORDER BY tenant_id, user_id LIMIT :limit) AS next_users
 ORDER BY tenant_id, user_id
"""
# A batch is one tenant's users (after, last]: with the tenant fixed, the planner sizes
# the user range from its statistics and reads it by the key (a range of (tenant, user)
# pairs it cannot size, and would read the whole month for every batch).
_RETIRING_BATCH = """{table}
 WHERE tenant_id = :tenant_id AND user_id > :after AND user_id <= :last"""
UNCOUNT_RETIRING = (
    "WITH batch AS MATERIALIZED (SELECT tenant_id, user_id, stream_id, activity_type, is_read"
    " FROM "
    + _RETIRING_BATCH
    + "), uncounted AS ("
    + _UNCOUNT_FROM.format(rows="batch")
    + """)
SELECT tenant_id, activity_type, count(*) FROM batch GROUP BY tenant_id, activity_type
"""
)

# Monthly partitions of a table, oldest first, with their bounds (default excluded).
PARTITIONS = text(
    """
SELECT c.relname,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]
           ::timestamptz AS lo,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]
           ::timestamptz AS hi
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = CAST(:parent AS regclass)
   AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
 ORDER BY lo
"""
)

# Events: soft-deleted ones past their grace, or of a type whose events a tenant keeps
# only so long; their feed items go with them (one scan of each month's feed partition).
_DOOMED_EVENTS = """
CREATE TEMP TABLE IF NOT EXISTS tidings_doomed_events (
    tenant_id text, id uuid, occurred_at timestamptz, stream_id uuid, was_live boolean
) ON COMMIT DELETE ROWS
"""
# Which events go: soft-deleted ones past their grace, or a type's older than its keep.
DELETED_BEFORE = "is_deleted AND deleted_at < :before"
OF_TYPE_BEFORE = "event_type = :event_type AND occurred_at < :before"
_DELETE_EVENTS = """
WITH gone AS (
    DELETE FROM events e
     WHERE (e.id, e.occurred_at) IN (
           SELECT id, occurred_at FROM events
            WHERE tenant_id = :tenant_id AND {which}
            ORDER BY occurred_at LIMIT :limit)
    RETURNING e.tenant_id, e.id, e.occurred_at, e.stream_id, NOT e.is_deleted AS was_live
), noted AS (
    INSERT INTO tidings_doomed_events SELECT * FROM gone
), recounted AS (
    UPDATE streams s SET event_count = s.event_count - g.n
      FROM (SELECT stream_id, count(*) AS n FROM gone WHERE was_live GROUP BY stream_id) g
     WHERE s.id = g.stream_id
)
SELECT count(*) FROM gone
"""
_COUNT_DELETABLE_EVENTS = "SELECT count(*) FROM events WHERE tenant_id = :tenant_id AND {which}"
# The batch's events are a stretch of time: only those months' feed partitions are read.
DELETE_ITEMS_OF_DOOMED = text(
    f"""
WITH gone AS (
    DELETE FROM feed_items f USING tidings_doomed_events d
     WHERE f.tenant_id = d.tenant_id AND f.created_at = d.occurred_at AND f.event_id = d.id
       AND f.created_at >= (SELECT min(occurred_at) FROM tidings_doomed_events)
       AND f.created_at <= (SELECT max(occurred_at) FROM tidings_doomed_events)
    RETURNING {", ".join("f." + c for c in FEED_COLUMNS.split(", "))}
){_UNCOUNT}
SELECT count(*) FROM gone
"""
)

# Events older than the cutoff, a batch at a time, into the archive.
ARCHIVE_EVENTS = text(
    f"""
WITH gone AS (
    DELETE FROM events
     WHERE (id, occurred_at) IN (
           SELECT id, occurred_at FROM events
            WHERE tenant_id = :tenant_id AND occurred_at < :cutoff
            ORDER BY occurred_at LIMIT :limit)
    RETURNING {EVENT_COLUMNS}
), archived AS (
    INSERT INTO events_archive ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM gone
), recounted AS (
    UPDATE streams s SET event_count = s.event_count - g.n
      FROM (SELECT stream_id, count(*) AS n FROM gone WHERE NOT is_deleted
             GROUP BY stream_id) g
     WHERE s.id = g.stream_id
)
SELECT count(*) FROM gone
"""
)
COUNT_ARCHIVABLE_EVENTS = text(
    "SELECT count(*) FROM events WHERE tenant_id = :tenant_id AND occurred_at < :cutoff"
)


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    lo: datetime
    hi: datetime


class RetentionRepository(Repository):
    # --- policies -----------------------------------------------------------------

    async def policy(self, tenant_id: str) -> RetentionPolicy | None:
        return await self.session.get(RetentionPolicy, tenant_id)

    async def policies(self) -> list[RetentionPolicy]:
        return list(await self.session.scalars(select(RetentionPolicy)))

    async def save_policy(self, values: dict[str, Any]) -> RetentionPolicy:
        stmt = pg_insert(RetentionPolicy).values(**values)
        upsert = stmt.on_conflict_do_update(
            index_elements=[RetentionPolicy.tenant_id],
            set_={
                **{k: stmt.excluded[k] for k in values if k != "tenant_id"},
                "updated_at": text("now()"),
            },
        ).returning(RetentionPolicy)
        result = await self.session.scalars(upsert, execution_options={"populate_existing": True})
        return result.one()

    # --- what there is --------------------------------------------------------------

    async def feed_tenants_and_types(self) -> list[tuple[str, str]]:
        """(tenant, activity type) pairs that have feed items."""
        rows = await self.session.execute(
            text(
                "SELECT DISTINCT tenant_id, activity_type FROM feed_counters WHERE total > 0"
                " ORDER BY tenant_id, activity_type"
            )
        )
        return [(r[0], r[1]) for r in rows]

    async def event_tenants(self) -> list[str]:
        return list(await self.session.scalars(text("SELECT id FROM tenants ORDER BY id")))

    async def partitions(self, parent: str) -> list[Partition]:
        rows = await self.session.execute(PARTITIONS, {"parent": parent})
        return [Partition(r.relname, r.lo, r.hi) for r in rows]

    # --- feed items ------------------------------------------------------------------

    async def next_users(
        self, tenant_id: str, kinds: Sequence[str], after: str, limit: int
    ) -> list[str]:
        rows = await self.session.scalars(
            USERS_WITH_TYPES,
            {"tenant_id": tenant_id, "kinds": list(kinds), "after": after, "limit": limit},
        )
        return list(rows)

    async def expire_feed(
        self,
        tenant_id: str,
        cutoffs: Mapping[str, datetime],
        *,
        after: str,
        last: str,
        archive: bool = False,
    ) -> dict[str, int]:
        """One batch: the expired items of the users in (after, last], off the counters
        (and, `archive`, into the archive) in the same statement; per type, how many."""
        params = {**_rules(tenant_id, cutoffs), "after": after, "last": last}
        statement = ARCHIVE_FEED if archive else EXPIRE_FEED
        rows = await self.session.execute(statement, params)
        return {r[0]: int(r[1]) for r in rows}

    async def count_expired_feed(
        self, tenant_id: str, cutoffs: Mapping[str, datetime], *, whole: Sequence[str] = ()
    ) -> dict[str, int]:
        """What a run would expire row by row: the rows past their cutoffs outside the
        months (`whole`) it would take whole."""
        params = {**_rules(tenant_id, cutoffs), "whole": list(whole)}
        rows = await self.session.execute(COUNT_EXPIRED_FEED, params)
        return {r[0]: int(r[1]) for r in rows}

    async def has_expired_feed(self, tenant_id: str, cutoffs: Mapping[str, datetime]) -> bool:
        return bool(await self.session.scalar(HAS_EXPIRED_FEED, _rules(tenant_id, cutoffs)))

    async def lock_feed(self, timeout_ms: int) -> None:
        """The whole feed, exclusively, waiting at most `timeout_ms` (then LockNotAvailable)."""
        await self.session.execute(text(f"SET LOCAL lock_timeout = {int(timeout_ms)}"))
        await self.session.execute(text("LOCK TABLE feed_items IN ACCESS EXCLUSIVE MODE"))

    async def partition_counts(self, partition: str) -> list[tuple[str, str, int]]:
        rows = await self.session.execute(
            text(PARTITION_COUNTS.format(partition=_quoted(partition)))
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def detach(self, parent: str, partition: str) -> None:
        await self.session.execute(
            text(f"ALTER TABLE {_quoted(parent)} DETACH PARTITION {_quoted(partition)}")
        )

    async def drop(self, table: str) -> None:
        await self.session.execute(text(f"DROP TABLE {_quoted(table)}"))

    async def retire(
        self, parent: str, partition: Partition, *, archive: bool
    ) -> RetiringPartition:
        """Takes a month out of `parent` (the caller holds the parent's lock): detached,
        renamed, and noted as retiring, its counters still to come down."""
        retiring = f"{partition.name}_retiring"
        await self.detach(parent, partition.name)
        await self.session.execute(
            text(f"ALTER TABLE {_quoted(partition.name)} RENAME TO {_quoted(retiring)}")
        )
        row = RetiringPartition(
            name=retiring,
            parent=parent,
            partition=partition.name,
            archive=archive,
            lo=partition.lo,
            hi=partition.hi,
            after_tenant="",
            after_user="",
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def retiring(self) -> list[RetiringPartition]:
        return list(
            await self.session.scalars(
                select(RetiringPartition).order_by(RetiringPartition.started_at)
            )
        )

    async def uncount_retiring(
        self, row: RetiringPartition, limit: int
    ) -> list[tuple[str, str, int]] | None:
        """The next batch of a retiring month's users (up to `limit`, of one tenant) off
        the counters, the place kept; per (tenant, type) how many items; None when no
        user is left."""
        table = _quoted(row.name)
        after = {"tenant_id": row.after_tenant, "user_id": row.after_user}
        users = (
            await self.session.execute(
                text(RETIRING_USERS.format(table=table)), {**after, "limit": limit}
            )
        ).all()
        if not users:
            return None
        tenant_id = users[0][0]
        last = [user for tenant, user in users if tenant == tenant_id][-1]
        params = {
            "tenant_id": tenant_id,
            "after": row.after_user if row.after_tenant == tenant_id else "",
            "last": last,
        }
        counts = await self.session.execute(text(UNCOUNT_RETIRING.format(table=table)), params)
        row.after_tenant, row.after_user = tenant_id, last
        await self.session.flush()
        return [(r[0], r[1], int(r[2])) for r in counts]

    async def finish_retiring(self, row: RetiringPartition, *, lock_timeout_ms: int) -> None:
        """A retiring month whose counters are down: dropped, or attached to the archive
        as its month; where the archive has rows of that month already (its partition
        made meanwhile, or strays in its default), its rows are copied in instead. Waits
        at most `lock_timeout_ms` for the archive (then LockNotAvailable)."""
        await self.session.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
        if row.archive:
            archive = ARCHIVES[row.parent]
            name = row.partition.replace(row.parent, archive, 1)
            attached = False
            if not await self.has_partition(name):
                try:
                    async with self.session.begin_nested():
                        await self.session.execute(
                            text(f"ALTER TABLE {_quoted(row.name)} RENAME TO {_quoted(name)}")
                        )
                        await self.session.execute(
                            text(
                                f"ALTER TABLE {_quoted(archive)} ATTACH PARTITION"
                                f" {_quoted(name)} FOR VALUES FROM ('{row.lo.isoformat()}')"
                                f" TO ('{row.hi.isoformat()}')"
                            )
                        )
                    attached = True
                except DBAPIError as exc:
                    if getattr(exc.orig, "sqlstate", None) != CHECK_VIOLATION:
                        raise  # the archive's default holds rows of that month: copy
            if not attached:
                await self.session.execute(
                    text(
                        f"INSERT INTO {_quoted(archive)} ({FEED_COLUMNS})"
                        f" SELECT {FEED_COLUMNS} FROM {_quoted(row.name)}"
                    )
                )
                await self.drop(row.name)
        else:
            await self.drop(row.name)
        await self.session.delete(row)
        await self.session.flush()

    async def count_retiring_left(self, row: RetiringPartition) -> list[tuple[str, str, int]]:
        """What a retiring month still holds past its place, per (tenant, type)."""
        rows = await self.session.execute(
            text(
                f"SELECT tenant_id, activity_type, count(*) FROM {_quoted(row.name)}"
                " WHERE (tenant_id, user_id) > (:tenant_id, :user_id)"
                " GROUP BY tenant_id, activity_type"
            ),
            {"tenant_id": row.after_tenant, "user_id": row.after_user},
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def is_partition_of(self, parent: str, table: str) -> bool:
        """Whether `table` is (still) a partition of `parent`."""
        return bool(
            await self.session.scalar(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(:t)"
                    " AND inhparent = CAST(:parent AS regclass))"
                ),
                {"t": table, "parent": parent},
            )
        )

    async def ensure_archive_months(
        self, table: str, key: str, tenant_id: str, cutoff: datetime
    ) -> None:
        """The archive's monthly partitions for the months rows are about to move from,
        so its default partition stays empty (a whole month can then be attached)."""
        first = await self.session.scalar(
            text(
                f"SELECT min({key}) FROM {_quoted(table)}"
                f" WHERE tenant_id = :tenant_id AND {key} < :cutoff"
            ),
            {"tenant_id": tenant_id, "cutoff": cutoff},
        )
        if first is None:
            return
        await self.session.execute(
            text("SELECT tidings_ensure_partitions(:parent, :key, :first, :last)"),
            {
                "parent": ARCHIVES[table],
                "key": key,
                "first": first.date().replace(day=1),
                "last": cutoff.date().replace(day=1),
            },
        )

    async def has_partition(self, table: str) -> bool:
        return bool(
            await self.session.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table})
        )

    # --- events ----------------------------------------------------------------------

    async def delete_events(
        self, tenant_id: str, which: str, params: dict[str, Any], *, limit: int
    ) -> tuple[int, int]:
        """One batch of events gone for good (`which`: DELETED_BEFORE or OF_TYPE_BEFORE),
        and their feed items: (events, items)."""
        await self.session.execute(text(_DOOMED_EVENTS))
        statement = text(_DELETE_EVENTS.format(which=which))
        events = int(
            await self.session.scalar(statement, {"tenant_id": tenant_id, "limit": limit, **params})
            or 0
        )
        items = int(await self.session.scalar(DELETE_ITEMS_OF_DOOMED) or 0) if events else 0
        await self.session.execute(text("DELETE FROM tidings_doomed_events"))
        return events, items

    async def count_deletable_events(
        self, tenant_id: str, which: str, params: dict[str, Any]
    ) -> int:
        statement = text(_COUNT_DELETABLE_EVENTS.format(which=which))
        return int(await self.session.scalar(statement, {"tenant_id": tenant_id, **params}) or 0)

    async def archive_events(self, tenant_id: str, cutoff: datetime, limit: int) -> int:
        params = {"tenant_id": tenant_id, "cutoff": cutoff, "limit": limit}
        return int(await self.session.scalar(ARCHIVE_EVENTS, params) or 0)

    async def count_archivable_events(self, tenant_id: str, cutoff: datetime) -> int:
        params = {"tenant_id": tenant_id, "cutoff": cutoff}
        return int(await self.session.scalar(COUNT_ARCHIVABLE_EVENTS, params) or 0)

    async def take_lease(self, name: str, holder: str, until: datetime) -> bool:
        """Claims `name` until `until` unless another holder's claim is still good."""
        got = await self.session.scalar(
            text(
                "INSERT INTO job_leases AS l (name, holder, expires_at)"
                " VALUES (:name, :holder, :until)"
                " ON CONFLICT (name) DO UPDATE SET holder = :holder, expires_at = :until"
                " WHERE l.expires_at < now() OR l.holder = :holder"
                " RETURNING holder"
            ),
            {"name": name, "holder": holder, "until": until},
        )
        return bool(got == holder)

    async def give_back_lease(self, name: str, holder: str) -> None:
        await self.session.execute(
            text("DELETE FROM job_leases WHERE name = :name AND holder = :holder"),
            {"name": name, "holder": holder},
        )

    async def prune_outbox(self, before: datetime, limit: int) -> int:
        """Processed outbox rows older than `before` (their work is done), a batch."""
        deleted = await self.session.execute(
            text(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE processed_at"
                " IS NOT NULL AND processed_at < :before ORDER BY id LIMIT :limit)"
            ),
            {"before": before, "limit": limit},
        )
        return int(deleted.rowcount or 0)  # type: ignore[attr-defined]


def _quoted(name: str) -> str:
    """A table name from the catalog, quoted as an identifier."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {name!r}")
    return f'"{name}"'


def _rules(tenant_id: str, cutoffs: Mapping[str, datetime]) -> dict[str, Any]:
    """The parameters of a tenant's rules (`_RULES`): its types, their cutoffs, the latest."""
    return {
        "tenant_id": tenant_id,
        "kinds": list(cutoffs),
        "cutoffs": list(cutoffs.values()),
        "latest": max(cutoffs.values()),
    }
