"""Retention (issue 7): a month of feed items expired whole (its partition detached)
beside row by row (batched DELETEs), and ingest while the cleanup runs; each Tidings
figure beside the same work sent straight through asyncpg.

Everything runs in a database of its own on the server of TIDINGS_DATABASE_URL
(`<database>_bench_retention`, or --database), created and migrated for the run and
dropped after it (--keep keeps it): a whole month's partition holds every tenant's rows,
so the partition path is never tried on a database that has other data.

  load        --rows feed items (10,000,000) in the 12 whole months before this one, the
              same number in each, for --users users (20,000) who each follow --follows
              (10) of --streams streams (1,000): ~200 followers a stream; 8 activity types
              (35% notes ... 5% meetings), 75% read. One tenant, made as the API makes
              them (bench.dataset.create_tenant), its subscriptions, then each month's
              rows COPYd in key order; no events (feed items have no foreign key); the
              counters per (user, stream, type) filled from the rows; VACUUM (ANALYZE)
  partition   month 0, the partition path: RetentionService.cleanup(older_than_days=1,
              now=<month 1 + 1 day>), so month 0 is past the cutoff and goes whole
              (detached under a brief lock of the feed, then off the counters a batch of
              users at a time from the detached table, then dropped), then the row pass
              finds nothing; timed whole and to the end of its partition step
  rows        month 1, the row path (RetentionService._expire_rows, what the cleanup runs
              for a month that cannot go whole): 500 users a batch, every type in the
              one pass, each batch one DELETE ... RETURNING that takes its rows off the
              counters (an upsert fed in key order); then the VACUUM of the
              emptied partition, timed apart
  raw         asyncpg, each on a month of its own of the same size:
                detach      ALTER TABLE feed_items DETACH PARTITION ...; DROP TABLE ...
                detach+ctr  the same after the counter update, under LOCK TABLE, one tx
                delete      DELETE FROM feed_items WHERE the month and users (a, b],
                            batches of ~--batch rows (50,000), autocommit
                delete+ctr  the same with the counters in the statement (the app's
                            statement, for all types at once)
  ingest      POST /api/events/ (a note on a random stream, delivered in the request as
              `fanout_mode=sync` does: ~200 feed rows and counter upserts) on a real
              uvicorn server at --concurrency, closed loop: for --ingest-seconds alone,
              during the row path's cleanup of month 2, alone again, and around the
              partition path on month 3 (the feed is locked meanwhile: worst latency).
              Raw: on as many asyncpg connections, BEGIN; event + outbox + stream counter
              (one statement); fan-out with counter upserts (one statement); outbox row
              done; COMMIT; alone and during a raw delete+ctr of month 8
  checks      after the Tidings phases and after ingest: every counter cell equals its
              rows (total and unread), and what each cleanup reported is what went

The months: 0 partition, 1 rows, 2 ingest+rows, 3 ingest+partition, 6 raw detach+ctr,
7 raw delete+ctr, 8 raw ingest+delete, 9 raw detach, 10 raw delete; 4, 5, 11 are kept.
`make bench-retention` runs it with embedded PostgreSQL and Valkey when no URLs are set.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from uuid_utils.compat import uuid7

from app.auth import mint_token
from app.db import create_engine, create_session_factory
from app.logging import configure_logging
from app.schema import upgrade
from app.services.retention import Removed, retention_service
from app.settings import Settings, to_asyncpg_dsn
from bench.common import (
    CORES,
    CpuMeter,
    CpuUse,
    Row,
    api_server,
    bench_settings,
    busy_cores,
    code_version,
    fmt,
    percentiles,
    print_figures,
    print_table,
)
from bench.dataset import OBJECT_TYPES, create_tenant
from bench.feeds import FILL_COUNTERS, RAW_FAN_OUT_COUNTED
from bench.ingest import JSON_HEADERS, RAW_CTE, Texts

T = TypeVar("T")
Conn: TypeAlias = "asyncpg.Connection[Any]"
Factory: TypeAlias = async_sessionmaker[AsyncSession]
MONTHS = 12
TENANT = "bench-retention"
SERVICE_USER = "ingest-bot"
# Activity types of the feed rows and their shares (the shapes of bench.feeds).
KINDS = (
    ("note", 0.35),
    ("comment", 0.15),
    ("email", 0.12),
    ("call", 0.08),
    ("status_change", 0.10),
    ("field_updated", 0.10),
    ("file_attached", 0.05),
    ("meeting", 0.05),
)
READ_SHARE = 0.75  # old items are mostly read
READ_AFTER = timedelta(hours=3)
SUBSCRIPTION_COLUMNS = (
    "id",
    "tenant_id",
    "user_id",
    "stream_id",
    "subscription_type",
    "created_at",
    "updated_at",
)
FEED_COLUMNS = (
    "tenant_id",
    "user_id",
    "created_at",
    "event_id",
    "stream_id",
    "activity_type",
    "is_read",
    "read_at",
)
# What each month of the loaded year is for (0 is the oldest).
PARTITION, ROWS, INGEST_ROWS, INGEST_PARTITION = 0, 1, 2, 3
RAW_DETACH_COUNTED, RAW_DELETE_COUNTED, RAW_INGEST_DELETE, RAW_DETACH, RAW_DELETE = 6, 7, 8, 9, 10
# What went wrong without stopping the run: deadlocks retried (raw), failed POSTs.
DEADLOCKS: Counter[str] = Counter()
FAILED_POSTS: list[str] = []
LEAD_SECONDS = 2.0  # ingest runs this long before a cleanup starts beside it
TAIL_SECONDS = 3.0  # ... and after it ends (requests the feed lock held finish then)

# --- raw statements ---------------------------------------------------------------------

RAW_DELETE_SQL = """
DELETE FROM feed_items
 WHERE tenant_id = $1 AND user_id > $2 AND user_id <= $3 AND created_at >= $4 AND created_at < $5
"""
# The same rows, taken off their counters in the same statement.
RAW_DELETE_COUNTED_SQL = """
WITH gone AS (
    DELETE FROM feed_items
     WHERE tenant_id = $1 AND user_id > $2 AND user_id <= $3
       AND created_at >= $4 AND created_at < $5
    RETURNING tenant_id, user_id, stream_id, activity_type, is_read
), uncounted AS (
    UPDATE feed_counters c SET total = c.total - g.n, unread = c.unread - g.u
      FROM (SELECT tenant_id, user_id, stream_id, activity_type, count(*) AS n,
                   count(*) FILTER (WHERE NOT is_read) AS u
              FROM gone GROUP BY tenant_id, user_id, stream_id, activity_type
             ORDER BY tenant_id, user_id, stream_id, activity_type) g
     WHERE c.tenant_id = g.tenant_id AND c.user_id = g.user_id
       AND c.stream_id = g.stream_id AND c.activity_type = g.activity_type
)
SELECT count(*) FROM gone
"""
RAW_UNCOUNT_PARTITION = """
UPDATE feed_counters c SET total = c.total - g.n, unread = c.unread - g.u
  FROM (SELECT tenant_id, user_id, stream_id, activity_type, count(*) AS n,
               count(*) FILTER (WHERE NOT is_read) AS u
          FROM {partition} GROUP BY tenant_id, user_id, stream_id, activity_type) g
 WHERE c.tenant_id = g.tenant_id AND c.user_id = g.user_id
   AND c.stream_id = g.stream_id AND c.activity_type = g.activity_type
"""
RAW_OUTBOX_DONE = (
    "UPDATE outbox SET processed_at = now() WHERE tenant_id = $1 AND event_id = $2"
    " AND processed_at IS NULL"
)
# Every counter cell against its rows; a cell with no rows must be zero.
WRONG_COUNTERS = """
WITH truth AS (
    SELECT user_id, stream_id, activity_type, count(*) AS total,
           count(*) FILTER (WHERE NOT is_read) AS unread
      FROM feed_items WHERE tenant_id = $1 GROUP BY user_id, stream_id, activity_type),
kept AS (SELECT user_id, stream_id, activity_type, total, unread
           FROM feed_counters WHERE tenant_id = $1)
SELECT count(*) FROM truth FULL JOIN kept USING (user_id, stream_id, activity_type)
 WHERE (coalesce(truth.total, 0), coalesce(truth.unread, 0))
       IS DISTINCT FROM (coalesce(kept.total, 0), coalesce(kept.unread, 0))
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.retention",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--rows", type=int, default=10_000_000, help="feed items loaded (%(default)s)")
    add("--users", type=int, default=20_000, help="users with feeds (%(default)s)")
    add("--streams", type=int, default=1_000, help="streams (%(default)s)")
    add("--follows", type=int, default=10, help="streams each user follows (%(default)s)")
    add("--batch", type=int, default=50_000, help="rows per raw DELETE batch (%(default)s)")
    add("--concurrency", type=int, default=8, help="ingest requests in flight (%(default)s)")
    add("--ingest-seconds", type=float, default=20.0, help="each alone run (%(default)s)")
    add("--seed", type=int, default=42, help="seed for the data (%(default)s)")
    add("--database", default=None, help="default: <the configured one>_bench_retention")
    add("--keep", action="store_true", help="keep the database afterwards")
    add("--quick", action="store_true", help="a smoke run: 240,000 rows, 2,000 users, 5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.users, args.streams, args.ingest_seconds = 240_000, 2_000, 200, 5.0
    if min(args.rows // MONTHS, args.users, args.streams, args.batch, args.concurrency) < 1:
        parser.error("--rows (at least 12), --users, --streams, --batch, --concurrency: positive")
    if not 1 <= args.follows <= args.streams:
        parser.error("--follows must be between 1 and --streams")
    return args


# --- the database -----------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """`url` naming another database (the path of a postgresql:// URL)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


async def recreate_database(admin_dsn: str, name: str, *, drop_only: bool = False) -> None:
    conn: Conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def connect(dsn: str) -> Conn:
    conn: Conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    return conn


@dataclass(frozen=True, slots=True)
class Month:
    lo: datetime
    hi: datetime

    @property
    def partition(self) -> str:
        return f"feed_items_p{self.lo:%Y%m}"

    @property
    def now_after(self) -> datetime:
        """A `now` at which `older_than_days=1` puts the cutoff at this month's end."""
        return self.hi + timedelta(days=1)


def the_months(today: datetime) -> list[Month]:
    """The 12 whole months before this one, oldest first."""
    starts = []
    at = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(MONTHS + 1):
        starts.append(at)
        at = (at - timedelta(days=1)).replace(day=1)
    starts.reverse()
    return [Month(lo, hi) for lo, hi in itertools.pairwise(starts)]


# --- the load ---------------------------------------------------------------------------


@dataclass(slots=True)
class Loaded:
    users: list[str]  # in the database's order
    streams: list[uuid.UUID]
    objects: list[tuple[str, str]]  # each stream's (object_type, object_id)
    per_month: int
    seconds: float
    counter_cells: int


def month_rows(
    rng: random.Random,
    users: Sequence[str],
    follows: Sequence[Sequence[uuid.UUID]],
    month: Month,
    count: int,
) -> Iterator[tuple[Any, ...]]:
    """One month's feed rows in key order: each user's share, by time."""
    base, extra = divmod(count, len(users))
    span = int((month.hi - month.lo).total_seconds() * 1_000_000)
    kinds = [k for k, _ in KINDS]
    weights = list(itertools.accumulate(w for _, w in KINDS))
    for n, user in enumerate(users):
        k = base + (n < extra)
        if not k:
            continue
        offsets = sorted(rng.randrange(span) for _ in range(k))
        picked = rng.choices(kinds, cum_weights=weights, k=k)
        mine = follows[n]
        for offset, kind in zip(offsets, picked, strict=True):
            at = month.lo + timedelta(microseconds=offset)
            read = rng.random() < READ_SHARE
            yield (
                TENANT,
                user,
                at,
                uuid.UUID(int=rng.getrandbits(128)),
                rng.choice(mine),
                kind,
                read,
                at + READ_AFTER if read else None,
            )


async def load(conn: Conn, args: argparse.Namespace, months: Sequence[Month]) -> Loaded:
    started = time.perf_counter()
    rng = random.Random(args.seed)
    await conn.execute(
        "SELECT tidings_ensure_partitions('feed_items', 'created_at', $1, $2)",
        months[0].lo.date(),
        months[-1].lo.date(),
    )
    dataset = await create_tenant(
        conn, TENANT, streams=args.streams, users=args.users, since=months[0].lo, rng=rng
    )
    users = [
        r["id"]
        for r in await conn.fetch("SELECT id FROM users WHERE tenant_id = $1 ORDER BY id", TENANT)
    ]
    streams = dataset.stream_ids
    follows = [rng.sample(streams, args.follows) for _ in users]
    await conn.copy_records_to_table(
        "subscriptions",
        records=[
            (uuid.uuid4(), TENANT, user, stream, "follow", months[0].lo, months[0].lo)
            for user, theirs in zip(users, follows, strict=True)
            for stream in theirs
        ],
        columns=SUBSCRIPTION_COLUMNS,
    )
    await conn.execute(
        "UPDATE streams st SET subscriber_count = c.n FROM (SELECT stream_id, count(*) AS n"
        " FROM subscriptions WHERE tenant_id = $1 GROUP BY stream_id) c"
        " WHERE st.tenant_id = $1 AND st.id = c.stream_id",
        TENANT,
    )
    per_month = args.rows // MONTHS
    print(
        f"loading {per_month * MONTHS:,} feed items ({per_month:,} a month) for {len(users):,}"
        f" users following {args.follows} of {len(streams):,} streams...",
        flush=True,
    )
    for month in months:
        began = time.perf_counter()
        await conn.copy_records_to_table(
            "feed_items",
            records=month_rows(rng, users, follows, month, per_month),
            columns=FEED_COLUMNS,
        )
        took = time.perf_counter() - began
        print(
            f"  {month.lo:%Y-%m}: {per_month:,} rows in {took:.1f} s"
            f" ({fmt(per_month / took)} rows/s)",
            flush=True,
        )
    began = time.perf_counter()
    await conn.execute(FILL_COUNTERS, TENANT)
    cells = int(
        await conn.fetchval("SELECT count(*) FROM feed_counters WHERE tenant_id = $1", TENANT)
    )
    print(f"  {cells:,} counter cells filled in {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    await conn.execute("VACUUM (ANALYZE) feed_items, feed_counters, subscriptions, streams, users")
    print(f"  vacuumed and analyzed in {time.perf_counter() - began:.1f} s", flush=True)
    objects = [(OBJECT_TYPES[n % len(OBJECT_TYPES)][0], str(n)) for n in range(len(streams))]
    return Loaded(users, streams, objects, per_month, time.perf_counter() - started, cells)


async def month_count(conn: Conn, month: Month) -> int:
    return int(await conn.fetchval(f'SELECT count(*) FROM "{month.partition}"'))


async def check_counters(conn: Conn, when: str) -> None:
    """Every counter cell of the tenant equals its rows; loudly otherwise."""
    began = time.perf_counter()
    wrong = int(await conn.fetchval(WRONG_COUNTERS, TENANT))
    totals = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM feed_items WHERE tenant_id = $1) AS rows,"
        " (SELECT coalesce(sum(total), 0)::bigint FROM feed_counters WHERE tenant_id = $1)"
        " AS counted, (SELECT coalesce(sum(unread), 0)::bigint FROM feed_counters"
        " WHERE tenant_id = $1) AS unread,"
        " (SELECT count(*) FROM feed_items WHERE tenant_id = $1 AND NOT is_read) AS unread_rows",
        TENANT,
    )
    assert totals is not None
    if wrong or totals["rows"] != totals["counted"] or totals["unread"] != totals["unread_rows"]:
        raise SystemExit(
            f"COUNTERS WRONG {when}: {wrong:,} cells disagree with their rows; "
            f"{totals['rows']:,} rows but {totals['counted']:,} counted, "
            f"{totals['unread_rows']:,} unread rows but {totals['unread']:,} counted unread"
        )
    print(
        f"checked {when}: {totals['rows']:,} rows = the counters' total, "
        f"{totals['unread_rows']:,} unread = their unread, every cell exact "
        f"({time.perf_counter() - began:.1f} s)",
        flush=True,
    )


async def checkpoint(conn: Conn) -> None:
    """Each timed phase starts with no checkpoint due (the last one's writes flushed)."""
    await conn.execute("CHECKPOINT")


# --- expiring a month -------------------------------------------------------------------


@dataclass(slots=True)
class Expiry:
    what: str
    rows: int
    seconds: float
    cpu: CpuUse | None = None
    step: float | None = None  # the partition step alone (the feed locked), Tidings'
    vacuum: float | None = None  # the emptied partition's VACUUM afterwards
    statements: int = 0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def report(e: Expiry) -> None:
    line = f"  {e.what:<44} {e.rows:>9,} rows in {e.seconds:7.2f} s: {fmt(e.rate):>9} rows/s"
    if e.step is not None:
        line += f"; partition step {e.step:.2f} s"
    if e.statements:
        line += f"; {e.statements:,} batches"
    if e.vacuum is not None:
        line += f"; VACUUM after {e.vacuum:.2f} s"
    if e.cpu is not None:
        line += f" (cpu s: bench {e.cpu.client:.1f}, db+other {e.cpu.other:.1f})"
    print(line, flush=True)


class Marks:
    """The cleanup's progress callback: when each of its stages finished."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def __call__(self, stage: str, n: int, total: int) -> None:
        if n == total:
            self.at[stage] = time.perf_counter()


async def tidings_partition(factory: Factory, month: Month, rows: int, what: str) -> Expiry:
    """RetentionService.cleanup with the cutoff at the month's end: it goes whole."""
    marks = Marks()
    meter = CpuMeter()
    started = time.perf_counter()
    removed = await retention_service.cleanup(
        factory, older_than_days=1, now=month.now_after, progress=marks
    )
    cpu = meter.stop()
    expect_clean(removed, what)
    if month.partition not in removed.partitions:
        raise SystemExit(f"{what}: {month.partition} did not go whole: {removed.partitions}")
    if removed.total != rows:
        raise SystemExit(f"{what}: the cleanup removed {removed.total:,} rows, not {rows:,}")
    step = marks.at.get("partitions", started) - started
    return Expiry(what, rows, cpu.wall, cpu, step=step)


async def tidings_rows(factory: Factory, month: Month, rows: int, what: str) -> Expiry:
    """The cleanup's row path on a month that is past every type's cutoff: what
    RetentionService.cleanup runs for a tenant when the month cannot go whole (every type
    in one pass, 500 users a committed batch). Called directly, since a cleanup of a
    whole expired month would take the partition path."""
    meter = CpuMeter()
    removed = Removed()
    cutoffs = {kind: month.hi for kind, _ in KINDS}
    await retention_service._expire_rows(
        factory, TENANT, cutoffs, removed, dry_run=False, archive=False
    )
    cpu = meter.stop()
    expect_clean(removed, what)
    if removed.total != rows:
        raise SystemExit(f"{what}: the row path removed {removed.total:,} rows, not {rows:,}")
    return Expiry(what, rows, cpu.wall, cpu)


def expect_clean(removed: Removed, what: str) -> None:
    if removed.skipped or removed.failed:
        raise SystemExit(f"{what}: the cleanup skipped or failed: {removed}")


async def raw_detach(conn: Conn, month: Month, rows: int, *, counted: bool, what: str) -> Expiry:
    part = f'"{month.partition}"'
    meter = CpuMeter()
    if counted:
        async with conn.transaction():
            await conn.execute("LOCK TABLE feed_items IN ACCESS EXCLUSIVE MODE")
            await conn.execute(RAW_UNCOUNT_PARTITION.format(partition=part))
            await conn.execute(f"ALTER TABLE feed_items DETACH PARTITION {part}")
            await conn.execute(f"DROP TABLE {part}")
    else:
        await conn.execute(f"ALTER TABLE feed_items DETACH PARTITION {part}; DROP TABLE {part}")
    cpu = meter.stop()
    return Expiry(what, rows, cpu.wall, cpu)


def user_batches(users: Sequence[str], per_month: int, batch: int) -> list[tuple[str, str]]:
    """(after, last] user ranges of about `batch` rows of one month each."""
    size = max(1, round(batch * len(users) / per_month))
    ranges, after = [], ""
    for n in range(0, len(users), size):
        last = users[min(n + size, len(users)) - 1]
        ranges.append((after, last))
        after = last
    return ranges


async def raw_delete(
    conn: Conn,
    month: Month,
    rows: int,
    ranges: Sequence[tuple[str, str]],
    *,
    counted: bool,
    what: str,
) -> Expiry:
    meter = CpuMeter()
    removed = 0
    for after, last in ranges:
        args = (TENANT, after, last, month.lo, month.hi)
        while True:
            try:
                if counted:
                    removed += int(await conn.fetchval(RAW_DELETE_COUNTED_SQL, *args))
                else:
                    removed += int((await conn.execute(RAW_DELETE_SQL, *args)).rsplit(" ", 1)[1])
                break
            except asyncpg.exceptions.DeadlockDetectedError:
                # The UPDATE ... FROM locks counters in its join's order, not the
                # subquery's; the fan-out's upsert locks them in user order.
                DEADLOCKS[what] += 1
    cpu = meter.stop()
    if removed != rows:
        raise SystemExit(f"{what}: deleted {removed:,} rows, not {rows:,}")
    return Expiry(what, rows, cpu.wall, cpu, statements=len(ranges))


async def vacuum(conn: Conn, month: Month) -> float:
    """The emptied month's VACUUM (timed: the row path's bill), then the counters'."""
    began = time.perf_counter()
    await conn.execute(f'VACUUM "{month.partition}"')
    took = time.perf_counter() - began
    await conn.execute("VACUUM (ANALYZE) feed_counters")
    return took


# --- ingest -----------------------------------------------------------------------------

Send = Callable[[int], Awaitable[None]]


@dataclass(slots=True)
class Traffic:
    """Every request of a closed-loop run: (sent, answered)."""

    spans: list[tuple[float, float]] = field(default_factory=list)

    def answered(self, lo: float, hi: float) -> list[float]:
        return [b - a for a, b in self.spans if lo <= b <= hi]

    def rate(self, lo: float, hi: float) -> float:
        return len(self.answered(lo, hi)) / (hi - lo)

    def worst_across(self, lo: float, hi: float) -> float:
        """The longest request that was in flight at any time in [lo, hi]."""
        return max((b - a for a, b in self.spans if b >= lo and a <= hi), default=0.0)


@dataclass(slots=True)
class Window:
    what: str
    traffic: Traffic
    lo: float
    hi: float
    cpu: CpuUse

    @property
    def rate(self) -> float:
        return self.traffic.rate(self.lo, self.hi)

    @property
    def count(self) -> int:
        return len(self.traffic.answered(self.lo, self.hi))

    def ms(self) -> dict[str, float]:
        answered = self.traffic.answered(self.lo, self.hi)
        out = {k: v * 1000 for k, v in percentiles(answered).items()}
        out["max"] = max(answered, default=float("nan")) * 1000
        return out


def show(w: Window, unit: str) -> None:
    ms = w.ms()
    print(
        f"  {w.what:<44} {w.count:>7,} {unit} in {w.hi - w.lo:5.1f} s: {fmt(w.rate):>7} {unit}/s;"
        f" p50 {fmt(ms['p50'])} p99 {fmt(ms['p99'])} max {fmt(ms['max'])} ms;"
        f" {w.cpu.describe(max(w.count, 1), unit)}",
        flush=True,
    )


async def keep_sending(senders: Sequence[Send], stop: asyncio.Event, traffic: Traffic) -> None:
    numbers = itertools.count()

    async def worker(send: Send) -> None:
        while not stop.is_set():
            sent = time.perf_counter()
            await send(next(numbers))
            traffic.spans.append((sent, time.perf_counter()))

    async with asyncio.TaskGroup() as group:
        for send in senders:
            group.create_task(worker(send))


async def under_load(
    what: str,
    senders: Sequence[Send],
    beside: Callable[[], Awaitable[T]] | None,
    *,
    seconds: float,
    server_pid: int | None = None,
) -> tuple[Window, T | None]:
    """Sends in a closed loop for `seconds` (after a second's warm-up) or, with `beside`,
    from LEAD_SECONDS before it starts to TAIL_SECONDS after it ends; the window is the
    measured stretch (`beside`'s run)."""
    traffic, stop = Traffic(), asyncio.Event()
    sending = asyncio.create_task(keep_sending(senders, stop, traffic))
    result: T | None = None
    try:
        await asyncio.sleep(1.0 if beside is None else LEAD_SECONDS)
        meter = CpuMeter(server_pid)
        lo = time.perf_counter()
        if beside is None:
            await asyncio.sleep(seconds)
        else:
            result = await beside()
        hi = time.perf_counter()
        cpu = meter.stop()
        if beside is not None:
            await asyncio.sleep(TAIL_SECONDS)
    finally:
        stop.set()
        await sending
    return Window(what, traffic, lo, hi, cpu), result


def http_senders(
    client: httpx.AsyncClient, bodies: Sequence[bytes], concurrency: int
) -> list[Send]:
    async def post(n: int) -> None:
        response = await client.post(
            "/api/events/", content=bodies[n % len(bodies)], headers=JSON_HEADERS
        )
        if response.status_code != 201:
            FAILED_POSTS.append(f"{response.status_code} {response.text[:300]}")

    return [post] * concurrency


def raw_senders(
    conns: Sequence[Conn], streams: Sequence[uuid.UUID], texts: Sequence[str]
) -> list[Send]:
    """What the sync POST writes, by hand: the event, its outbox row and the stream's
    counter in one statement, the fan-out with the counters in another, the outbox row
    marked done; one transaction."""

    def sender(conn: Conn) -> Send:
        async def send(n: int) -> None:
            event_id, at = uuid7(), datetime.now(UTC)
            text = texts[n % len(texts)]
            stream = streams[(n * 7919) % len(streams)]
            data = orjson.dumps({"text": text}).decode()
            while True:
                try:
                    async with conn.transaction():
                        await conn.execute(
                            RAW_CTE,
                            *(event_id, at, TENANT, stream, SERVICE_USER, f"Added note: {text}"),
                            data,
                        )
                        await conn.fetchval(RAW_FAN_OUT_COUNTED, TENANT, event_id, at)
                        await conn.execute(RAW_OUTBOX_DONE, TENANT, event_id)
                    return
                except asyncpg.exceptions.DeadlockDetectedError:
                    DEADLOCKS["raw tx"] += 1

        return send

    return [sender(c) for c in conns]


@dataclass(slots=True)
class Ingest:
    alone: list[Window]
    during_rows: Window
    cleanup: Expiry
    during_partition: Window
    partition: Expiry

    @property
    def alone_rate(self) -> float:
        return statistics.mean(w.rate for w in self.alone)


async def http_ingest(
    args: argparse.Namespace,
    env: dict[str, str],
    token: str,
    factory: Factory,
    conn: Conn,
    loaded: Loaded,
    months: Sequence[Month],
    rng: random.Random,
) -> Ingest:
    words = Texts(args.seed)
    bodies = [
        orjson.dumps(
            {
                "object_type": ot,
                "object_id": oid,
                "event_type": "note",
                "data": {"text": words()},
            }
        )
        for ot, oid in (rng.choice(loaded.objects) for _ in range(5_000))
    ]
    rows_month, part_month = months[INGEST_ROWS], months[INGEST_PARTITION]
    rows_n, part_n = await month_count(conn, rows_month), await month_count(conn, part_month)
    async with (
        api_server(env) as server,
        httpx.AsyncClient(
            base_url=server.base_url,
            headers={"authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=args.concurrency),
            timeout=120,
        ) as client,
    ):
        senders = http_senders(client, bodies, args.concurrency)
        pid = server.pid
        # Not measured: statements compiled and prepared, the service user created.
        await under_load("warm-up", senders, None, seconds=3.0, server_pid=pid)
        await checkpoint(conn)
        first, _ = await under_load(
            "ingest alone", senders, None, seconds=args.ingest_seconds, server_pid=pid
        )
        show(first, "ev")
        await checkpoint(conn)

        async def rows_cleanup() -> Expiry:
            return await tidings_rows(factory, rows_month, rows_n, "Tidings rows, during ingest")

        during, cleanup = await under_load(
            "ingest during the row cleanup", senders, rows_cleanup, seconds=0, server_pid=pid
        )
        assert cleanup is not None
        show(during, "ev")
        report(cleanup)
        await vacuum(conn, rows_month)
        await checkpoint(conn)
        second, _ = await under_load(
            "ingest alone, again", senders, None, seconds=args.ingest_seconds, server_pid=pid
        )
        show(second, "ev")
        await checkpoint(conn)

        async def partition_cleanup() -> Expiry:
            return await tidings_partition(
                factory, part_month, part_n, "Tidings partition, during ingest"
            )

        around, partition = await under_load(
            "ingest around the partition path",
            senders,
            partition_cleanup,
            seconds=0,
            server_pid=pid,
        )
        assert partition is not None
        show(around, "ev")
        worst = around.traffic.worst_across(around.lo, around.hi) * 1000
        print(f"  {'':44} worst request in flight meanwhile: {fmt(worst)} ms", flush=True)
        report(partition)
    return Ingest([first, second], during, cleanup, around, partition)


@dataclass(slots=True)
class RawIngest:
    alone: list[Window]
    during: Window
    cleanup: Expiry

    @property
    def alone_rate(self) -> float:
        return statistics.mean(w.rate for w in self.alone)


async def raw_ingest(
    args: argparse.Namespace, dsn: str, conn: Conn, loaded: Loaded, month: Month
) -> RawIngest:
    words = Texts(args.seed + 1)
    texts = [words() for _ in range(5_000)]
    rows = await month_count(conn, month)
    ranges = user_batches(loaded.users, loaded.per_month, args.batch)
    conns = [await connect(dsn) for _ in range(args.concurrency)]
    deleter = await connect(dsn)
    try:
        senders = raw_senders(conns, loaded.streams, texts)
        await under_load("warm-up", senders, None, seconds=2.0)
        await checkpoint(conn)
        first, _ = await under_load("raw tx alone", senders, None, seconds=args.ingest_seconds)
        show(first, "tx")
        await checkpoint(conn)

        async def delete() -> Expiry:
            return await raw_delete(
                deleter, month, rows, ranges, counted=True, what="raw delete+ctr, during raw tx"
            )

        during, cleanup = await under_load(
            "raw tx during raw delete+ctr", senders, delete, seconds=0
        )
        assert cleanup is not None
        show(during, "tx")
        report(cleanup)
        await vacuum(conn, month)
        await checkpoint(conn)
        second, _ = await under_load(
            "raw tx alone, again", senders, None, seconds=args.ingest_seconds
        )
        show(second, "tx")
    finally:
        for c in (*conns, deleter):
            await c.close()
    return RawIngest([first, second], during, cleanup)


# --- the run ----------------------------------------------------------------------------


async def describe(conn: Conn) -> str:
    pg = await conn.fetchrow(
        "SELECT current_setting('server_version') AS version,"
        " current_setting('shared_buffers') AS buffers,"
        " current_setting('max_wal_size') AS wal,"
        " current_setting('synchronous_commit') AS sync,"
        " current_setting('autovacuum') AS autovacuum"
    )
    assert pg is not None
    return (
        f"{CORES} cores, PostgreSQL {pg['version']} (shared_buffers={pg['buffers']}, "
        f"max_wal_size={pg['wal']}, synchronous_commit={pg['sync']}, "
        f"autovacuum={pg['autovacuum']})"
    )


@dataclass(slots=True)
class Results:
    loaded: Loaded
    partition: Expiry
    rows: Expiry
    raw: dict[str, Expiry]
    ingest: Ingest
    raw_ingest: RawIngest


def table(r: Results, concurrency: int) -> list[Row]:
    part, rows, raw, ing, rin = r.partition, r.rows, r.raw, r.ingest, r.raw_ingest
    detach, detach_c = raw["detach"], raw["detach+ctr"]
    delete, delete_c = raw["delete"], raw["delete+ctr"]
    assert part.step is not None
    assert rows.vacuum is not None
    assert delete_c.vacuum is not None
    n = part.rows
    during_ms, alone_ms = ing.during_rows.ms(), ing.alone[0].ms()
    raw_share = rin.during.rate / rin.alone_rate
    return [
        Row(
            f"month by partition: Tidings cleanup ({n:,} rows)",
            part.seconds,
            "s",
            "raw detach+drop",
            detach.seconds,
        ),
        Row(
            "  the same vs raw with counters (lock, counters, detach, drop)",
            part.seconds,
            "s",
            "raw+ctr",
            detach_c.seconds,
        ),
        Row(
            "  its partition step (detach, then the counters in batches)",
            part.step,
            "s",
            "raw+ctr",
            detach_c.seconds,
        ),
        Row(
            "  the rest of the call: its row pass, finding nothing",
            part.seconds - part.step,
            "s",
        ),
        Row("  rate", part.rate, "rows/s", "raw+ctr", detach_c.rate),
        Row(
            "month by rows: Tidings row path (every type in one pass)",
            rows.seconds,
            "s",
            "raw DELETE",
            delete.seconds,
        ),
        Row(
            "  the same vs raw DELETE with counters", rows.seconds, "s", "raw+ctr", delete_c.seconds
        ),
        Row("  rate", rows.rate, "rows/s", "raw+ctr", delete_c.rate),
        Row(
            "  VACUUM of the emptied partition afterwards",
            rows.vacuum,
            "s",
            "raw+ctr",
            delete_c.vacuum,
        ),
        Row(
            "speedup of the partition path over the row path",
            rows.seconds / part.seconds,
            "x",
            "raw",
            delete.seconds / detach.seconds,
        ),
        Row(f"ingest POST /api/events/ (c={concurrency}), alone", ing.alone_rate, "ev/s"),
        Row("  during the row cleanup", ing.during_rows.rate, "ev/s", "alone", ing.alone_rate),
        Row(
            "  latency p50 during the row cleanup", during_ms["p50"], "ms", "alone", alone_ms["p50"]
        ),
        Row(
            "  latency p99 during the row cleanup", during_ms["p99"], "ms", "alone", alone_ms["p99"]
        ),
        Row("  the row cleanup meanwhile", ing.cleanup.rate, "rows/s", "alone", rows.rate),
        Row(
            "  worst request around the partition path",
            1000
            * ing.during_partition.traffic.worst_across(
                ing.during_partition.lo, ing.during_partition.hi
            ),
            "ms",
            "alone max",
            alone_ms["max"],
        ),
        Row("  the partition path meanwhile", ing.partition.seconds, "s", "alone", part.seconds),
        Row(f"raw ingest tx ({concurrency} conns), alone", rin.alone_rate, "tx/s"),
        Row(
            "  during a raw DELETE+ctr of a month", rin.during.rate, "tx/s", "alone", rin.alone_rate
        ),
        Row("  the raw DELETE+ctr meanwhile", rin.cleanup.rate, "rows/s", "alone", delete_c.rate),
        Row(
            "ingest kept during the row cleanup: Tidings",
            ing.during_rows.rate / ing.alone_rate,
            "",
            "raw",
            raw_share,
        ),
    ]


def figures(r: Results, code: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rows_per_month": r.loaded.per_month,
        "users": len(r.loaded.users),
        "streams": len(r.loaded.streams),
        "counter_cells": r.loaded.counter_cells,
        "load_seconds": r.loaded.seconds,
    }
    for key, e in {"partition": r.partition, "rows": r.rows, **r.raw}.items():
        k = key.replace("+", "_")
        out[f"{k}_seconds"] = e.seconds
        out[f"{k}_rows_per_s"] = e.rate
        if e.step is not None:
            out[f"{k}_step_seconds"] = e.step
            out[f"{k}_rest_seconds"] = e.seconds - e.step
        if e.vacuum is not None:
            out[f"{k}_vacuum_seconds"] = e.vacuum
    out["partition_vs_raw_detach"] = r.partition.seconds / r.raw["detach"].seconds
    out["partition_vs_raw_detach_ctr"] = r.partition.seconds / r.raw["detach+ctr"].seconds
    out["rows_vs_raw_delete"] = r.rows.seconds / r.raw["delete"].seconds
    out["rows_vs_raw_delete_ctr"] = r.rows.seconds / r.raw["delete+ctr"].seconds
    out["speedup_tidings"] = r.rows.seconds / r.partition.seconds
    out["speedup_raw"] = r.raw["delete"].seconds / r.raw["detach"].seconds
    ing, rin = r.ingest, r.raw_ingest
    out["ingest_alone_per_s"] = [w.rate for w in ing.alone]
    out["ingest_during_rows_per_s"] = ing.during_rows.rate
    out["ingest_during_rows_ms"] = ing.during_rows.ms()
    out["ingest_alone_ms"] = ing.alone[0].ms()
    out["ingest_kept"] = ing.during_rows.rate / ing.alone_rate
    out["cleanup_during_ingest_rows_per_s"] = ing.cleanup.rate
    out["ingest_around_partition_per_s"] = ing.during_partition.rate
    out["ingest_worst_around_partition_ms"] = 1000 * ing.during_partition.traffic.worst_across(
        ing.during_partition.lo, ing.during_partition.hi
    )
    out["partition_during_ingest_seconds"] = ing.partition.seconds
    out["raw_ingest_alone_per_s"] = [w.rate for w in rin.alone]
    out["raw_ingest_during_delete_per_s"] = rin.during.rate
    out["raw_ingest_kept"] = rin.during.rate / rin.alone_rate
    out["raw_delete_during_ingest_rows_per_s"] = rin.cleanup.rate
    out["deadlocks_retried"] = dict(DEADLOCKS)
    out["failed_posts"] = len(FAILED_POSTS)
    out["cores"] = CORES
    out["code"] = code
    return out


async def run(args: argparse.Namespace, settings: Settings, dsn: str, code: str) -> dict[str, Any]:
    assert settings.database_url is not None
    months = the_months(datetime.now(UTC))
    rng = random.Random(args.seed)
    conn = await connect(dsn)
    engine = create_engine(settings, pool_size=2, max_overflow=2)
    factory = create_session_factory(engine)
    try:
        print(f"tidings retention benchmark, code {code}: {await describe(conn)}", flush=True)
        print(
            f"database {database_name(settings.database_url)}, months {months[0].lo:%Y-%m}"
            f" to {months[-1].lo:%Y-%m}",
            flush=True,
        )
        if (busy := await busy_cores()) > 0.2:
            print(f"warning: {busy:.1f} cores were busy before the run; expect noisy figures")
        loaded = await load(conn, args, months)
        n = loaded.per_month
        cells = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT DISTINCT user_id, stream_id, activity_type"
            f' FROM "{months[PARTITION].partition}") c'
        )
        print(f"\nexpiring one month ({n:,} rows, {cells:,} counter cells) each way:", flush=True)
        for m in (PARTITION, ROWS, RAW_DETACH_COUNTED, RAW_DELETE_COUNTED):
            if (got := await month_count(conn, months[m])) != n:
                raise SystemExit(f"month {m} holds {got:,} rows, not {n:,}")
        ranges = user_batches(loaded.users, n, args.batch)
        raw: dict[str, Expiry] = {}

        await checkpoint(conn)
        partition = await tidings_partition(factory, months[PARTITION], n, "Tidings partition path")
        report(partition)
        await checkpoint(conn)
        raw["detach+ctr"] = await raw_detach(
            conn, months[RAW_DETACH_COUNTED], n, counted=True, what="raw lock+counters+detach+drop"
        )
        report(raw["detach+ctr"])
        await checkpoint(conn)
        rows = await tidings_rows(factory, months[ROWS], n, "Tidings row path")
        rows.vacuum = await vacuum(conn, months[ROWS])
        report(rows)
        await checkpoint(conn)
        raw["delete+ctr"] = await raw_delete(
            conn, months[RAW_DELETE_COUNTED], n, ranges, counted=True, what="raw DELETE+counters"
        )
        raw["delete+ctr"].vacuum = await vacuum(conn, months[RAW_DELETE_COUNTED])
        report(raw["delete+ctr"])
        await check_counters(conn, "after the Tidings and raw+ctr expiries")

        print(f"\ningest (c={args.concurrency}) alone and beside the cleanup:", flush=True)
        token = mint_token(settings, tenant_id=TENANT, user_id=SERVICE_USER, roles=["service"])
        env = {**os.environ, "TIDINGS_DATABASE_URL": settings.database_url}
        ingest = await http_ingest(args, env, token, factory, conn, loaded, months, rng)
        rin = await raw_ingest(args, dsn, conn, loaded, months[RAW_INGEST_DELETE])
        await check_counters(conn, "after ingest")

        print("\nthe bare raw baselines (no counters: they leave them wrong):", flush=True)
        for m in (RAW_DETACH, RAW_DELETE):
            if (got := await month_count(conn, months[m])) != n:
                raise SystemExit(f"month {m} holds {got:,} rows, not {n:,}")
        await checkpoint(conn)
        raw["detach"] = await raw_detach(
            conn, months[RAW_DETACH], n, counted=False, what="raw detach+drop"
        )
        report(raw["detach"])
        await checkpoint(conn)
        raw["delete"] = await raw_delete(
            conn, months[RAW_DELETE], n, ranges, counted=False, what="raw DELETE"
        )
        raw["delete"].vacuum = await vacuum(conn, months[RAW_DELETE])
        report(raw["delete"])
    finally:
        await engine.dispose()
        await conn.close()
    results = Results(loaded, partition, rows, raw, ingest, rin)
    for what, n in DEADLOCKS.items():
        print(f"deadlocks retried: {what}: {n}")
    if FAILED_POSTS:
        print(f"FAILED POSTs: {len(FAILED_POSTS)}, e.g. {FAILED_POSTS[:3]}")
    print("\nTidings beside the same work through asyncpg (time ratios are multiples):")
    print_table(table(results, args.concurrency))
    return figures(results, code)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = bench_settings("bench-retention")
    # The cleanup logs each run; the figures are the output here.
    configure_logging("WARNING", json=False)
    configured = settings.database_url
    assert configured is not None  # bench_settings exits without one
    admin = to_asyncpg_dsn(configured)
    name = args.database or f"{database_name(configured)}_bench_retention"
    url = with_database(configured, name)
    bench = settings.model_copy(update={"database_url": url})
    asyncio.run(recreate_database(admin, name))
    try:
        upgrade(bench)
        data = asyncio.run(run(args, bench, to_asyncpg_dsn(url), code_version()))
    finally:
        if not args.keep:
            asyncio.run(recreate_database(admin, name, drop_only=True))
            print(f"dropped database {name}", flush=True)
    print_figures(data)


if __name__ == "__main__":
    main()
