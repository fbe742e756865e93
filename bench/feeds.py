"""Fan-out and feed reads (issue 4): Tidings beside the same SQL sent straight through asyncpg.

Feed items are lean rows (tenant, user, created_at, event, stream, type, read state)
keyed (tenant, user, created_at, event); a page joins its events and streams for the
title, text, data and target, and the counters are kept per (user, stream, type).

Measured in one run, against the database in TIDINGS_DATABASE_URL (migrated first):

  fan-out     one event to each of --subscribers followers of a stream (1,000, 10,000,
              100,000), in a tenant made for the run and deleted after it (--keep):
                committing  FeedService.fan_out_committing, the worker's path: one
                            transaction per --chunk recipients (the app's FAN_OUT, which
                            locks the event's outbox row, moves its cursor and counters)
                sync        FeedService.fan_out inside one transaction (sync delivery)
                raw         asyncpg: one INSERT INTO feed_items ... SELECT ... FROM events
                            JOIN subscriptions of the same lean rows, no counters, no
                            conflict clause, autocommit
                raw+ctr     the same with the counters in the same statement, as the app
                            moves them (UPDATE of the existing rows, INSERT of the missing)
                app SQL     the app's FAN_OUT statement via asyncpg, one chunk of all N
                            (tells the statement's cost from the chunking's)
              each a new event (and its outbox row), rounds rotating the order, after one
              unmeasured delivery per variant (the recipients' counters then exist; no
              ANALYZE: the tenant is new to the statistics, as a real one would be);
              rows/s is the median round
  reads       a tenant of --feed-items feed items (generated in SQL; reused when it
              exists, or --reuse) over --feed-users users with Zipf-skewed feeds across 13
              monthly partitions; each item is one of the tenant's events (13 months of
              1,000 streams, with summaries, text and data: ~1 per 15 items at 10 million,
              more in a small tenant, so that no user gets an event twice) of a stream its
              user follows, at the event's time and of its type; ~27% unread (most of the
              last 14 days, a quarter of older items), counters per (user, stream, type)
              filled from the rows; a real uvicorn server answers, at --concurrency and
              one at a time, for users drawn half from the heavy ones (>= 10,000 items)
              and half in proportion to their items:
                feed         GET /api/events/activity-feed/?page_size=50
                feed_unread  the same with is_read=false
                badge        GET /api/events/activity-feed/unread-count/ (the unread count)
                unread       GET /api/subscriptions/unread_counts/ (+ per subscription)
                summary      GET /api/events/activity-feed/summary/
              each beside the raw statements the endpoint sends (the app's own SQL text,
              on as many asyncpg connections, no BEGIN/COMMIT: page + counters by type),
              or for the counts beside the counter read alone (unread counters per stream
              and type; counters by type) and all their statements (+ subscriptions;
              + a page of 6); GET /healthz (no token, no session) shows the HTTP floor.
              The client is bench.common.KeepAliveClient (one keep-alive connection per
              request in flight), so that the client's own CPU is not counted as the
              server's latency (httpx adds ~0.7 ms a request on these two cores)
  explain     EXPLAIN (ANALYZE, BUFFERS) of the read queries for the heaviest user and of
              the first and last FAN_OUT chunk for the largest stream (rolled back)

`make bench-feeds` runs it with embedded PostgreSQL and Valkey when no URLs are set.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import random
import re
import secrets
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlencode

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from uuid_utils.compat import uuid7

from app.auth import mint_token
from app.db import EventRef, create_engine, create_session_factory
from app.logging import configure_logging
from app.repositories.feeds import (
    _COUNTERS_BY_TYPE,
    _PAGE,
    _UNREAD_BY_TYPE,
    _UNREAD_COUNTS,
    _page_sql,
    fan_out_sql,
)
from app.schema import upgrade
from app.services.feeds import feed_service
from app.settings import Settings, to_asyncpg_dsn
from bench.common import (
    CORES,
    CpuMeter,
    CpuUse,
    KeepAliveClient,
    Row,
    Run,
    api_server,
    bench_settings,
    busy_cores,
    code_version,
    drive,
    fmt,
    print_figures,
    print_table,
)

T = TypeVar("T")
Conn: TypeAlias = "asyncpg.Connection[Any]"
PAGE_SIZE = 50
HEAVY_ITEMS = 10_000  # a "heavy" reader: this many items or more
HEAVY_SHARE = 0.5  # of read requests that go to heavy readers
SKEW = 0.5  # Zipf exponent of items per user
STREAMS = 1_000  # streams of the read tenant
ITEMS_PER_EVENT = 15  # feed items per event of the read tenant, on average (at most)
RECENT_DAYS = 14  # items younger than this are mostly unread, older ones mostly read
WARMUP_SECONDS = 3.0
PAGE_TARGET_MS = 10.0
COUNT_TARGET_MS = 2.0

# --- fan-out statements ---------------------------------------------------------------

# The app's own statement, with asyncpg's placeholders: the measured SQL cannot drift
# from what the worker sends.
_NAMES = ("tenant_id", "event_id", "occurred_at", "stream_id")


def app_fan_out(limit: int) -> str:
    return re.sub(
        r"(?<![:\w]):(\w+)", lambda m: f"${_NAMES.index(m.group(1)) + 1}", fan_out_sql(limit)
    )


# The same lean rows as FAN_OUT delivers (to the same subscribers), in one plain
# INSERT ... SELECT: no outbox row, cursor, conflict clause or counters.
RAW_FAN_OUT = """
INSERT INTO feed_items (tenant_id, user_id, created_at, event_id, stream_id, activity_type)
SELECT e.tenant_id, sub.user_id, e.occurred_at, e.id, e.stream_id, e.event_type
  FROM events e
  JOIN subscriptions sub ON sub.tenant_id = e.tenant_id AND sub.stream_id = e.stream_id
 WHERE e.tenant_id = $1 AND e.id = $2 AND e.occurred_at = $3
   AND sub.subscription_type <> 'mute' AND sub.min_importance <= e.importance
"""
# ... plus the counters, moved the way FAN_OUT moves them: one upsert per recipient (one
# event has one stream and type), in user order.
RAW_FAN_OUT_COUNTED = f"""
WITH delivered AS ({RAW_FAN_OUT} RETURNING user_id, stream_id, activity_type
), counted AS (
    INSERT INTO feed_counters AS c (tenant_id, user_id, stream_id, activity_type, total, unread)
    SELECT $1, d.user_id, d.stream_id, d.activity_type, 1, 1
      FROM delivered d
     ORDER BY d.user_id
    ON CONFLICT (tenant_id, user_id, stream_id, activity_type)
    DO UPDATE SET total = c.total + 1, unread = c.unread + 1
)
SELECT count(*) FROM delivered
"""
# What POST /api/events/ stores for a note (the stream's counters aside): the event and
# its outbox row (kind 'created', pending: what FAN_OUT locks and moves on).
RECORD_EVENT = """
WITH ev AS (
    INSERT INTO events (id, occurred_at, tenant_id, stream_id, event_type, actor_id, summary, data)
    VALUES ($1, $2, $3, $4, 'note', 'fanout-bot', $5, $6)
    RETURNING id, occurred_at, tenant_id, stream_id
)
INSERT INTO outbox (tenant_id, event_id, event_occurred_at, stream_id)
SELECT tenant_id, id, occurred_at, stream_id FROM ev
"""

# --- read statements: the app's own text ------------------------------------------------

# GET /activity-feed/ (no filters): the page and the counters per type; with
# is_read=false the page filters NOT is_read; the summary reads the counters and a page
# of 6 (5 and one to tell whether more follow).
FEED_PAGE = _page_sql(_PAGE, False, None, False, False, False, False, False, PAGE_SIZE + 1)
FEED_PAGE_UNREAD = _page_sql(_PAGE, False, False, False, False, False, False, False, PAGE_SIZE + 1)
SUMMARY_PAGE = _page_sql(_PAGE, False, None, False, False, False, False, False, 6)
COUNTERS = _COUNTERS_BY_TYPE
# GET /subscriptions/unread_counts/: one statement, the counters with unread items and
# the subscriptions they are summed into.
UNREAD_COUNTS = _UNREAD_COUNTS
# GET /activity-feed/unread-count/ (the badge): one read of the counters.
UNREAD_BY_TYPE = _UNREAD_BY_TYPE
# Its first half alone: the counter read the count itself needs.
UNREAD_CELLS = """
SELECT stream_id, activity_type, unread
  FROM feed_counters WHERE tenant_id = $1 AND user_id = $2 AND unread <> 0
"""

# --- the read tenant's rows -------------------------------------------------------------

# Words for the events' summaries and text (so their search vectors hold words).
WORDS = (
    "call with customer about renewal pricing contract discount proposal demo follow up "
    "meeting scheduled next week quarter budget approved pending legal review signed "
    "sent quote invoice onboarding kickoff stakeholder decision maker champion feedback "
    "requirements integration security questionnaire pilot rollout expansion seats "
    "license churn risk escalation support ticket resolved closed won lost stage moved "
    "negotiation qualified lead opportunity account manager notes summary action items "
    "agreed timeline deadline reminder attached document slides deck email thread"
).split()

# Each stream-month's events, numbered 1..c: feed items pick events by that number.
# Ids are UUIDv7 of the event's time, as the app makes them.
MAKE_EVENTS = """
CREATE TEMP TABLE bench_feed_events ON COMMIT DROP AS
SELECT x.month, x.stream, x.k, x.at, x.nwords,
       (lpad(to_hex(floor(extract(epoch FROM x.at) * 1000)::bigint), 12, '0') || '7'
        || substr(x.h, 1, 3) || '8' || substr(x.h, 4, 15))::uuid AS id,
       CASE WHEN x.pick < 0.35 THEN 'note' WHEN x.pick < 0.50 THEN 'comment'
            WHEN x.pick < 0.62 THEN 'email' WHEN x.pick < 0.70 THEN 'call'
            WHEN x.pick < 0.80 THEN 'status_change' WHEN x.pick < 0.90 THEN 'field_updated'
            WHEN x.pick < 0.95 THEN 'file_attached' ELSE 'meeting' END AS kind
  FROM (SELECT s.month, s.stream, k, s.lo + random() * (s.hi - s.lo) AS at,
               md5(random()::text) AS h, random() AS pick,
               3 + floor(random() * 9)::int AS nwords
          FROM bench_feed_slots s CROSS JOIN LATERAL generate_series(1, s.c) AS k) AS x
"""
# One month of the events, in time order; a summary of 20-100 characters, mostly no
# description, the text again in the data.
_WORD = "($3::text[])[1 + floor(random() * cardinality($3::text[]))::int]"
LOAD_EVENTS = f"""
INSERT INTO events (id, occurred_at, tenant_id, stream_id, event_type, actor_id, summary,
                    description, data, created_at)
SELECT x.id, x.at, $1::text, md5($1::text || ':' || x.stream)::uuid, x.kind, x.actor,
       initcap(replace(x.kind, '_', ' ')) || ': ' || x.text, x.description,
       jsonb_build_object('text', x.text), x.at
  FROM (SELECT b.*,
               (SELECT string_agg({_WORD}, ' ') FROM generate_series(1, b.nwords)) AS text,
               CASE WHEN random() < 0.6 THEN '' ELSE
                    (SELECT string_agg({_WORD}, ' ') FROM generate_series(1, b.nwords + 3))
               END AS description,
               'u' || lpad(floor(random() * $4::int)::text, 6, '0') AS actor
          FROM bench_feed_events b WHERE b.month = $2) AS x
 ORDER BY x.at
"""
# One month of every user's items, in user order (so each user's key entries land
# together): for each (user, stream) pick, the stream-month's events off+1 .. off+q
# (mod c), so no event twice; recent items mostly unread.
LOAD_ITEMS = """
INSERT INTO feed_items (tenant_id, user_id, created_at, event_id, stream_id, activity_type,
                        is_read, read_at)
SELECT $1::text, x.user_id, x.at, x.id, md5($1::text || ':' || x.stream)::uuid, x.kind,
       x.is_read, CASE WHEN x.is_read THEN least(x.at + interval '3 hours', $4) END
  FROM (SELECT p.user_id, p.stream, e.at, e.id, e.kind,
               random() < CASE WHEN e.at >= $3 THEN 0.2 ELSE 0.75 END AS is_read
          FROM (SELECT * FROM bench_feed_picks WHERE month = $2 ORDER BY user_id) AS p
         CROSS JOIN LATERAL generate_series(0, p.q - 1) AS i
          JOIN bench_feed_events e
            ON e.month = $2 AND e.stream = p.stream AND e.k = 1 + (p.off + i) % p.c) AS x
"""
FILL_COUNTERS = """
INSERT INTO feed_counters (tenant_id, user_id, stream_id, activity_type, total, unread)
SELECT tenant_id, user_id, stream_id, activity_type, count(*),
       count(*) FILTER (WHERE NOT is_read)
  FROM feed_items WHERE tenant_id = $1
 GROUP BY tenant_id, user_id, stream_id, activity_type
"""
STREAM_COUNTS = """
UPDATE streams st SET event_count = c.n, last_event_at = c.last
  FROM (SELECT stream_id, count(*) AS n, max(occurred_at) AS last
          FROM events WHERE tenant_id = $1 GROUP BY stream_id) AS c
 WHERE st.tenant_id = $1 AND st.id = c.stream_id
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feeds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--subscribers", default="1000,10000,100000", help="fan-out sizes (%(default)s)")
    add("--rounds", type=int, default=None, help="rounds per size (default: 10, 5, 3, ...)")
    add("--chunk", type=int, default=None, help="recipients per chunk (the app's setting)")
    add("--feed-items", type=int, default=10_000_000, help="feed items to read (%(default)s)")
    add("--feed-users", type=int, default=20_000, help="users with feeds (%(default)s)")
    add("--tenant", default=None, help="default bench-feed2-<items>; reused if it exists")
    add("--reuse", metavar="TENANT", default=None, help="measure this loaded tenant")
    add("--requests", type=int, default=2_000, help="requests per read phase (%(default)s)")
    add("--unloaded", type=int, default=300, help="requests at c=1 (%(default)s; 0: none)")
    add("--warmup", type=int, default=200, help="unmeasured requests first (%(default)s)")
    add("--concurrency", type=int, default=8, help="requests in flight (%(default)s)")
    add("--max-seconds", type=float, default=10.0, help="cap per measured run (%(default)s)")
    add("--seed", type=int, default=42, help="seed for the data and the requests")
    add("--skip", default="", help="comma-separated: fanout, reads, explain")
    add("--plans", action="store_true", help="print the full EXPLAIN plans")
    add("--keep", action="store_true", help="keep the fan-out tenant and its rows")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.subscribers.split(",") if s.strip()]
    except ValueError:
        parser.error("--subscribers takes comma-separated integers")
    if any(n < 1 for n in args.sizes) or args.feed_users < 1 or args.feed_items < 1:
        parser.error("sizes, --feed-users and --feed-items must be positive")
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


async def connect(dsn: str) -> Conn:
    conn: Conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    # The app decodes jsonb (with orjson); the baseline does the same work.
    await conn.set_type_codec("jsonb", encoder=str, decoder=orjson.loads, schema="pg_catalog")
    return conn


def month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(at: datetime) -> datetime:
    return (at.replace(day=1) + timedelta(days=32)).replace(day=1)


async def ensure_partitions(
    conn: Conn, table: str, column: str, first: datetime, last: datetime
) -> None:
    await conn.execute(
        "SELECT tidings_ensure_partitions($1, $2, $3, $4)",
        table,
        column,
        first.date().replace(day=1),
        last.date().replace(day=1),
    )


# --- fan-out ----------------------------------------------------------------------------

VARIANTS = ("committing", "sync", "raw", "raw_counted", "app_sql")
Deliver = Callable[[EventRef], Awaitable[int]]


@dataclass(slots=True)
class FanOut:
    """One variant's rounds at one size."""

    size: int
    variant: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[CpuUse] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Rows/s of the median round: one slow round (a checkpoint) does not move it."""
        return self.size / statistics.median(self.seconds)

    def cpu_ms_per_1000(self) -> dict[str, float]:
        rows = self.size * len(self.cpu)
        return {
            "client": sum(c.client for c in self.cpu) / rows * 1e6,
            "db": sum(c.other for c in self.cpu) / rows * 1e6,
        }


def report_fan_out(fan: FanOut) -> None:
    ms = statistics.median(fan.seconds) * 1000
    cpu = fan.cpu_ms_per_1000()
    print(
        f"  {fan.size:>7,} x {fan.variant:<11} median {fmt(ms):>6} ms: {fmt(fan.rate):>8} rows/s"
        f" (best {fmt(fan.size / min(fan.seconds))}); cpu ms per 1,000 rows: "
        f"client {cpu['client']:.1f}, db+other {cpu['db']:.1f}",
        flush=True,
    )


def default_rounds(size: int) -> int:
    return 10 if size <= 1_000 else 5 if size <= 10_000 else 3


async def setup_fan_out(conn: Conn, tenant: str, sizes: Sequence[int]) -> dict[int, uuid.UUID]:
    """A tenant with max(sizes) users and, per size, a stream the first `size` follow."""
    now = datetime.now(UTC)
    for table, column in (("events", "occurred_at"), ("feed_items", "created_at")):
        await ensure_partitions(conn, table, column, now, now)
    streams = {size: uuid.UUID(bytes=secrets.token_bytes(16), version=4) for size in sizes}
    async with conn.transaction():
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, 'fan-out bench')", tenant)
        await conn.execute(
            "INSERT INTO users (tenant_id, id) SELECT $1, 'u' || lpad(n::text, 7, '0')"
            " FROM generate_series(1, $2::int) AS n",
            tenant,
            max(sizes),
        )
        for size, stream_id in streams.items():
            await conn.execute(
                "INSERT INTO streams (id, tenant_id, slug, name, stream_type, object_type,"
                " object_id, subscriber_count) VALUES ($1, $2, $3, $3, 'crm', 'crm.deal', $4, $5)",
                stream_id,
                tenant,
                f"fanout-{size}",
                str(size),
                size,
            )
            await conn.execute(
                "INSERT INTO subscriptions (id, tenant_id, user_id, stream_id, subscription_type)"
                " SELECT gen_random_uuid(), $1, 'u' || lpad(n::text, 7, '0'), $2, 'follow'"
                " FROM generate_series(1, $3::int) AS n",
                tenant,
                stream_id,
                size,
            )
    await conn.execute("ANALYZE subscriptions, users, streams")
    return streams


async def record_event(
    conn: Conn, tenant: str, stream_id: uuid.UUID, rng: random.Random
) -> EventRef:
    event_id, at = uuid7(), datetime.now(UTC)
    text = " ".join(secrets.token_hex(rng.randint(2, 6)) for _ in range(rng.randint(6, 20)))
    await conn.execute(
        RECORD_EVENT,
        event_id,
        at,
        tenant,
        stream_id,
        f"Added note: {text}",
        orjson.dumps({"text": text}).decode(),
    )
    return EventRef(tenant, event_id, at, stream_id)


def deliverers(
    factory: async_sessionmaker[AsyncSession], conn: Conn, chunk: int, size: int
) -> dict[str, Deliver]:
    async def committing(ref: EventRef) -> int:
        return await feed_service.fan_out_committing(factory, ref, chunk=chunk)

    async def sync(ref: EventRef) -> int:
        async with factory() as session, session.begin():
            return await feed_service.fan_out(session, ref, chunk=chunk)

    async def raw(ref: EventRef) -> int:
        status = await conn.execute(RAW_FAN_OUT, ref.tenant_id, ref.event_id, ref.occurred_at)
        return int(status.rsplit(" ", 1)[1])

    async def raw_counted(ref: EventRef) -> int:
        args = (ref.tenant_id, ref.event_id, ref.occurred_at)
        return int(await conn.fetchval(RAW_FAN_OUT_COUNTED, *args))

    async def app_sql(ref: EventRef) -> int:
        # One chunk that takes everyone and, finding fewer than its limit, also marks the
        # outbox row done: the whole fan-out in one statement.
        args = (ref.tenant_id, ref.event_id, ref.occurred_at, ref.stream_id)
        row = await conn.fetchrow(app_fan_out(size + 1), *args)
        return int((row or {"delivered": 0})["delivered"])

    return {
        "committing": committing,
        "sync": sync,
        "raw": raw,
        "raw_counted": raw_counted,
        "app_sql": app_sql,
    }


async def fan_out_phase(
    args: argparse.Namespace, settings: Settings, dsn: str
) -> tuple[list[FanOut], list[Plan]]:
    chunk = args.chunk or settings.fanout_chunk_size
    tenant = f"bench-fo-{secrets.token_hex(4)}"
    month = datetime.now(UTC).strftime("%Y%m")  # the partitions its rows go to
    rng = random.Random(args.seed)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    conn = await connect(dsn)
    results: list[FanOut] = []
    plans: list[Plan] = []
    uncounted = raw_events = 0
    try:
        streams = await setup_fan_out(conn, tenant, args.sizes)
        print(f"\nfan-out: tenant {tenant}, {chunk:,} recipients per chunk", flush=True)
        for size in args.sizes:
            send = deliverers(factory, conn, chunk, size)
            # Unmeasured: creates the recipients' counter rows (later fan-outs update them,
            # as for any user with a feed) and prepares every statement.
            for variant in ("sync", "raw", "raw_counted", "app_sql"):
                await send[variant](await record_event(conn, tenant, streams[size], rng))
            runs = {v: FanOut(size, v) for v in VARIANTS}
            rounds = args.rounds or default_rounds(size)
            uncounted += size * (rounds + 1)
            raw_events += 2 * (rounds + 1)
            for r in range(rounds):
                # Rotated, so no variant always follows the same one (and its dirty pages).
                for variant in VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]:
                    ref = await record_event(conn, tenant, streams[size], rng)
                    meter = CpuMeter()
                    delivered = await send[variant](ref)
                    cpu = meter.stop()
                    if delivered != size:
                        raise RuntimeError(f"{variant}: delivered {delivered} of {size}")
                    runs[variant].seconds.append(cpu.wall)
                    runs[variant].cpu.append(cpu)
            for variant in VARIANTS:
                report_fan_out(runs[variant])
            results.extend(runs.values())
        await check_fan_out(conn, tenant, uncounted, raw_events)
        if "explain" not in args.skip:
            plans = await explain_fan_out(
                conn, tenant, streams[max(args.sizes)], max(args.sizes), chunk, rng, args.plans
            )
    finally:
        if not args.keep:
            started = time.perf_counter()
            await drop_tenant(conn, tenant, month)
            print(f"  cleaned up the fan-out tenant in {time.perf_counter() - started:.1f} s")
        await conn.close()
        await engine.dispose()
    return results, plans


async def check_fan_out(conn: Conn, tenant: str, uncounted: int, raw_events: int) -> None:
    """Every item but the raw baseline's (which does not count, on purpose) is counted,
    and every event's fan-out but the raw baselines' (which leave the outbox alone) is
    marked done."""
    items, counted, pending = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM feed_items WHERE tenant_id = $1),
               (SELECT coalesce(sum(total), 0) FROM feed_counters WHERE tenant_id = $1),
               (SELECT count(*) FROM outbox WHERE tenant_id = $1 AND processed_at IS NULL)
        """,
        tenant,
    ) or (0, 0, 0)
    if items - uncounted != counted:
        raise RuntimeError(f"{items:,} items, {uncounted:,} uncounted, but {counted:,} counted")
    if pending != raw_events:
        raise RuntimeError(f"{pending} outbox rows pending, not the raw baselines' {raw_events}")
    print(
        f"  checked: {items:,} items delivered, all but the raw baseline's {uncounted:,} "
        f"counted; every fan-out but the raw ones' ({raw_events}) marked done"
    )


async def drop_tenant(conn: Conn, tenant: str, month: str) -> None:
    async with conn.transaction():
        for table in ("feed_items", "feed_counters", "outbox", "events"):
            await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant)
        await conn.execute("DELETE FROM tenants WHERE id = $1", tenant)
    # The run deleted ~2 million rows from this month's partitions: vacuumed now, so that
    # autovacuum does not do it during the reads measured next, and the next run's fan-out
    # does not start on a partition full of dead rows.
    await conn.execute(
        f"VACUUM (ANALYZE) feed_items_p{month}, events_p{month}, feed_counters, outbox"
    )


# --- the read tenant --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reader:
    user_id: str
    items: int


@dataclass(slots=True)
class FeedTenant:
    id: str
    readers: list[Reader]
    events: int
    loaded: float | None = None

    @property
    def items(self) -> int:
        return sum(r.items for r in self.readers)

    @property
    def heaviest(self) -> Reader:
        return max(self.readers, key=lambda r: r.items)


def items_per_user(total: int, users: int) -> list[int]:
    """Zipf-skewed feed sizes summing to `total`, largest first."""
    weights = [(n + 1) ** -SKEW for n in range(users)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for n in range(total - sum(counts)):
        counts[n % users] += 1
    return counts


Pick: TypeAlias = tuple[str, int, int, int]  # user, month, stream, items


def plan_feeds(
    rng: random.Random,
    counts: Sequence[int],
    follows: Sequence[Sequence[int]],
    shares: Sequence[float],
) -> tuple[list[Pick], dict[tuple[int, int], int]]:
    """How many items each user gets from each stream they follow in each month (their
    Zipf total spread over the months and their streams), and how many events each
    stream-month has: one per ITEMS_PER_EVENT items drawn from it, and at least as many
    as any one user draws from it (so nobody gets the same event twice)."""
    picks: list[Pick] = []
    demand: Counter[tuple[int, int]] = Counter()
    most: Counter[tuple[int, int]] = Counter()
    for n, (count, streams) in enumerate(zip(counts, follows, strict=True)):
        user = f"u{n:06d}"
        per = [int(count * s) for s in shares]
        for m in rng.choices(range(len(shares)), weights=shares, k=count - sum(per)):
            per[m] += 1
        for m, k in enumerate(per):
            for stream, q in Counter(rng.choices(streams, k=k)).items():
                picks.append((user, m, stream, q))
                demand[stream, m] += q
                most[stream, m] = max(most[stream, m], q)
    events = {
        slot: max(math.ceil(items / ITEMS_PER_EVENT), most[slot]) for slot, items in demand.items()
    }
    return picks, events


async def load_feed(conn: Conn, args: argparse.Namespace, tenant: str) -> None:
    """The tenant, its users and streams, each user's subscriptions, 13 months of events
    of those streams and each user's feed items of the events of the streams they
    follow, and the counters those items add up to."""
    rng = random.Random(args.seed)
    end = datetime.now(UTC)
    start = end - timedelta(days=365)
    for table, column in (("events", "occurred_at"), ("feed_items", "created_at")):
        await ensure_partitions(conn, table, column, start, end)
    counts = items_per_user(args.feed_items, args.feed_users)
    users = [f"u{n:06d}" for n in range(args.feed_users)]
    # More items, more streams followed: heavy readers follow up to 60 of the 1,000.
    follows = [
        [(n * 7 + j * 13) % STREAMS for j in range(min(60, 5 + c // 500))]
        for n, c in enumerate(counts)
    ]
    months: list[tuple[datetime, datetime]] = []
    at = month_start(start)
    while at < end:
        months.append((max(at, start), min(next_month(at), end)))
        at = next_month(at)
    # Items (and events) spread over the months by their length: the first and the last
    # are partial.
    span = (end - start).total_seconds()
    shares = [(b - a).total_seconds() / span for a, b in months]
    started = time.perf_counter()
    picks, slots = plan_feeds(rng, counts, follows, shares)
    planned = sum(p[3] for p in picks)
    offsets = [(*p, slots[p[2], p[1]], rng.randrange(slots[p[2], p[1]])) for p in picks]
    print(
        f"  planned {planned:,} items from {sum(slots.values()):,} events "
        f"({len(picks):,} user-stream-months) in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("INSERT INTO tenants (id, name) VALUES ($1, 'feed bench')", tenant)
        await conn.copy_records_to_table(
            "users",
            records=[(tenant, u, f"{u}@example.com", u) for u in users],
            columns=("tenant_id", "id", "email", "name"),
        )
        await conn.execute(
            "INSERT INTO streams (id, tenant_id, slug, name, stream_type, object_type, object_id,"
            " created_at, updated_at)"
            " SELECT md5($1::text || ':' || n)::uuid, $1::text, 'crm-deal-' || n, 'Deal ' || n,"
            " 'crm', 'crm.deal', n::text, $3, $3 FROM generate_series(0, $2::int - 1) AS n",
            tenant,
            STREAMS,
            start,
        )
        await conn.execute(
            "CREATE TEMP TABLE bench_feed_users (user_id text PRIMARY KEY, streams int[])"
            " ON COMMIT DROP"
        )
        await conn.execute(
            "CREATE TEMP TABLE bench_feed_slots (month int, stream int, c int,"
            " lo timestamptz, hi timestamptz) ON COMMIT DROP"
        )
        await conn.execute(
            "CREATE TEMP TABLE bench_feed_picks (user_id text, month int, stream int, q int,"
            " c int, off int) ON COMMIT DROP"
        )
        await conn.copy_records_to_table(
            "bench_feed_users", records=list(zip(users, follows, strict=True))
        )
        await conn.copy_records_to_table(
            "bench_feed_slots",
            records=[(m, st, c, *months[m]) for (st, m), c in sorted(slots.items())],
        )
        await conn.copy_records_to_table("bench_feed_picks", records=offsets)
        await conn.execute(
            "INSERT INTO subscriptions (id, tenant_id, user_id, stream_id, subscription_type,"
            " created_at, updated_at)"
            " SELECT gen_random_uuid(), $1::text, u.user_id, md5($1::text || ':' || s)::uuid,"
            " 'follow', $2::timestamptz + s * interval '1 minute', $2::timestamptz"
            " FROM bench_feed_users u, unnest(u.streams) AS s",
            tenant,
            start,
        )
        await conn.execute(
            "UPDATE streams st SET subscriber_count = c.n FROM (SELECT stream_id, count(*) AS n"
            " FROM subscriptions WHERE tenant_id = $1 GROUP BY stream_id) c"
            " WHERE st.tenant_id = $1 AND st.id = c.stream_id",
            tenant,
        )
        print(
            f"  users, streams, subscriptions, plan in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        started = time.perf_counter()
        await conn.execute(MAKE_EVENTS)
        await conn.execute("ALTER TABLE bench_feed_events ADD PRIMARY KEY (month, stream, k)")
        await conn.execute("ANALYZE bench_feed_events, bench_feed_picks")
        print(f"  events numbered in {time.perf_counter() - started:.1f} s", flush=True)
        recent = end - timedelta(days=RECENT_DAYS)
        done = made = 0
        for m, (lo, _) in enumerate(months):
            began = time.perf_counter()
            status = await conn.execute(LOAD_EVENTS, tenant, m, list(WORDS), len(users))
            events = int(status.rsplit(" ", 1)[1])
            made += events
            middle = time.perf_counter()
            status = await conn.execute(LOAD_ITEMS, tenant, m, recent, end)
            rows = int(status.rsplit(" ", 1)[1])
            done += rows
            took = time.perf_counter() - middle
            print(
                f"  {lo:%Y-%m}: {events:>8,} events in {middle - began:5.1f} s, {rows:>10,} items"
                f" in {took:5.1f} s ({fmt(rows / took)} rows/s); {done:,} of {planned:,}",
                flush=True,
            )
        began = time.perf_counter()
        await conn.execute(FILL_COUNTERS, tenant)
        await conn.execute(STREAM_COUNTS, tenant)
        print(f"  counters filled in {time.perf_counter() - began:.1f} s", flush=True)
        began = time.perf_counter()
    print(f"  committed in {time.perf_counter() - began:.1f} s", flush=True)
    began = time.perf_counter()
    # What autovacuum would have done to rows loaded long ago: hint bits, the visibility
    # map and statistics. Without it the first reads of each page write it.
    await conn.execute(
        "VACUUM (ANALYZE) events, feed_items, feed_counters, subscriptions, streams, users"
    )
    print(f"  vacuumed and analyzed in {time.perf_counter() - began:.0f} s", flush=True)


async def prepare_feed_tenant(conn: Conn, args: argparse.Namespace) -> FeedTenant:
    # "feed2": a tenant loaded before feed items joined their events has none to join.
    name = args.reuse or args.tenant or f"bench-feed2-{args.feed_items}"
    exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)", name)
    loaded = None
    if not exists:
        if args.reuse:
            raise SystemExit(f"tenant {name!r} does not exist in this database")
        print(
            f"\nloading {args.feed_items:,} feed items for {args.feed_users:,} users into {name}"
            " (~30 s per million on 2 cores)...",
            flush=True,
        )
        started = time.perf_counter()
        await load_feed(conn, args, name)
        loaded = time.perf_counter() - started
    rows = await conn.fetch(
        "SELECT user_id, sum(total)::bigint AS items FROM feed_counters WHERE tenant_id = $1"
        " GROUP BY user_id",
        name,
    )
    if not rows:
        raise SystemExit(f"tenant {name!r} has no feed counters")
    readers = [Reader(r["user_id"], int(r["items"])) for r in rows]
    events = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", name)
    tenant = FeedTenant(name, readers, int(events), loaded)
    if exists and not args.reuse and tenant.items < args.feed_items:
        print(f"warning: {name} holds {tenant.items:,} items, fewer than --feed-items asks")
    await check_counters(conn, tenant)
    return tenant


async def check_counters(conn: Conn, tenant: FeedTenant) -> None:
    """The heaviest reader's counters match their rows per (stream, type), and each of
    their items is one of their stream's events, of its type and time."""
    heavy = tenant.heaviest.user_id
    wrong = await conn.fetchval(
        """
        WITH truth AS (
            SELECT stream_id, activity_type, count(*) AS total,
                   count(*) FILTER (WHERE NOT is_read) AS unread
              FROM feed_items WHERE tenant_id = $1 AND user_id = $2
             GROUP BY stream_id, activity_type),
        kept AS (SELECT stream_id, activity_type, total, unread FROM feed_counters
                  WHERE tenant_id = $1 AND user_id = $2)
        SELECT count(*) FROM truth FULL JOIN kept USING (stream_id, activity_type)
         WHERE (truth.total, truth.unread) IS DISTINCT FROM (kept.total, kept.unread)
        """,
        tenant.id,
        heavy,
    )
    if wrong:
        raise SystemExit(f"{heavy}'s counters disagree with their items on {wrong} cells")
    orphans = await conn.fetchval(
        """
        SELECT count(*) FROM feed_items f
         WHERE f.tenant_id = $1 AND f.user_id = $2
           AND NOT EXISTS (SELECT 1 FROM events e
                            WHERE e.tenant_id = f.tenant_id AND e.id = f.event_id
                              AND e.occurred_at = f.created_at AND e.stream_id = f.stream_id
                              AND e.event_type = f.activity_type)
        """,
        tenant.id,
        heavy,
    )
    if orphans:
        raise SystemExit(f"{orphans:,} of {heavy}'s items have no event of theirs: reload")


# --- reads ------------------------------------------------------------------------------

Raw = Callable[[Conn, str, str], Awaitable[None]]


async def raw_page(conn: Conn, tenant: str, user: str) -> None:
    await conn.fetch(FEED_PAGE, tenant, user)
    await conn.fetch(COUNTERS, tenant, user)


async def raw_page_unread(conn: Conn, tenant: str, user: str) -> None:
    await conn.fetch(FEED_PAGE_UNREAD, tenant, user)
    await conn.fetch(COUNTERS, tenant, user)


async def raw_counters(conn: Conn, tenant: str, user: str) -> None:
    await conn.fetch(COUNTERS, tenant, user)


async def raw_unread_cells(conn: Conn, tenant: str, user: str) -> None:
    await conn.fetch(UNREAD_CELLS, tenant, user)


async def raw_unread_badge(conn: Conn, tenant: str, user: str) -> None:
    await conn.fetch(UNREAD_BY_TYPE, tenant, user)


async def raw_unread_counts(conn: Conn, tenant: str, user: str) -> None:
    await conn.fetch(UNREAD_COUNTS, tenant, user)


async def raw_summary(conn: Conn, tenant: str, user: str) -> None:
    await conn.fetch(COUNTERS, tenant, user)
    await conn.fetch(SUMMARY_PAGE, tenant, user)


@dataclass(frozen=True, slots=True)
class Phase:
    key: str
    label: str
    path: str
    params: dict[str, str]
    raw: Raw
    raw_label: str
    target_ms: float
    full: Raw | None = None  # every statement the endpoint sends, where `raw` is less


PHASES = (
    Phase(
        "feed",
        "feed page (50)",
        "/api/events/activity-feed/",
        {"page_size": str(PAGE_SIZE)},
        raw_page,
        "raw page+counters",
        PAGE_TARGET_MS,
    ),
    Phase(
        "feed_unread",
        "feed page (50), is_read=false",
        "/api/events/activity-feed/",
        {"page_size": str(PAGE_SIZE), "is_read": "false"},
        raw_page_unread,
        "raw page+counters",
        PAGE_TARGET_MS,
    ),
    Phase(
        "badge",
        "unread count: /activity-feed/unread-count/",
        "/api/events/activity-feed/unread-count/",
        {},
        raw_unread_badge,
        "raw counter read",
        COUNT_TARGET_MS,
    ),
    Phase(
        "unread",
        "unread counts: /subscriptions/unread_counts/",
        "/api/subscriptions/unread_counts/",
        {},
        raw_unread_cells,
        "raw counter read",
        COUNT_TARGET_MS,
        raw_unread_counts,
    ),
    Phase(
        "summary",
        "feed summary: /activity-feed/summary/",
        "/api/events/activity-feed/summary/",
        {},
        raw_counters,
        "raw counter read",
        COUNT_TARGET_MS,
        raw_summary,
    ),
)


@dataclass(frozen=True, slots=True)
class Measured:
    phase: Phase
    concurrency: int
    http: Run
    raw: Run
    full: Run | None


def draw_users(tenant: FeedTenant, count: int, rng: random.Random) -> list[str]:
    """Half heavy readers (>= 10,000 items, or the top 1% of a small tenant), half drawn
    in proportion to items: the readers a feed's load comes from."""
    ranked = sorted(tenant.readers, key=lambda r: -r.items)
    heavy = [r for r in ranked if r.items >= HEAVY_ITEMS] or ranked[: max(5, len(ranked) // 100)]
    weights = list(itertools.accumulate(r.items for r in ranked))
    return [
        rng.choice(heavy).user_id
        if rng.random() < HEAVY_SHARE
        else rng.choices(ranked, cum_weights=weights)[0].user_id
        for _ in range(count)
    ]


def capped(items: Iterable[T], seconds: float) -> Iterator[T]:
    """`items` until `seconds` have passed: slow queries get fewer samples, not hours."""
    deadline = time.perf_counter() + seconds
    for item in items:
        if time.perf_counter() > deadline:
            return
        yield item


def report(name: str, run: Run, per: str = "req") -> None:
    ms = run.ms()
    print(
        f"  {name:<30} {run.count:>5,} in {run.seconds:5.1f} s: {fmt(run.rate):>6} {per}/s; "
        f"p50 {fmt(ms['p50'])} p95 {fmt(ms['p95'])} p99 {fmt(ms['p99'])} ms",
        flush=True,
    )
    if run.cpu is not None:
        print(f"  {'':31}{run.cpu.describe(run.count, per)}", flush=True)


async def reads_phase(
    args: argparse.Namespace, settings: Settings, dsn: str, tenant: FeedTenant
) -> tuple[list[Measured], dict[int, Run]]:
    """Every phase over HTTP and raw, and GET /healthz (the stack's floor: no token, no
    session) at the same concurrency."""
    rng = random.Random(args.seed)
    draws = {p.key: draw_users(tenant, args.requests, rng) for p in PHASES}
    everyone = sorted({u for users in draws.values() for u in users})
    tokens = {u: f"Bearer {mint_token(settings, tenant_id=tenant.id, user_id=u)}" for u in everyone}
    conns = [await connect(dsn) for _ in range(args.concurrency)]
    measured: list[Measured] = []
    floor: dict[int, Run] = {}
    try:
        async with api_server(dict(os.environ)) as server:
            clients = [KeepAliveClient(server.base_url) for _ in range(args.concurrency)]

            def getters(phase: Phase, c: int) -> list[Callable[[str], Awaitable[None]]]:
                target = phase.path + ("?" + urlencode(phase.params) if phase.params else "")

                def on(client: KeepAliveClient) -> Callable[[str], Awaitable[None]]:
                    async def get(user: str) -> None:
                        status, body = await client.get(target, {"authorization": tokens[user]})
                        if status != 200:
                            raise RuntimeError(f"GET {target}: {status} {body[:300]!r}")

                    return get

                return [on(client) for client in clients[:c]]

            def healthz(c: int) -> list[Callable[[int], Awaitable[None]]]:
                def on(client: KeepAliveClient) -> Callable[[int], Awaitable[None]]:
                    async def get(_: int) -> None:
                        status, _body = await client.get("/healthz")
                        if status != 200:
                            raise RuntimeError(f"GET /healthz: {status}")

                    return get

                return [on(client) for client in clients[:c]]

            # Unmeasured: each reader's first request mirrors them into `users` (a write
            # and a commit) and the server compiles and prepares its statements.
            started = time.perf_counter()
            await drive(everyone, getters(PHASES[-1], args.concurrency))
            print(
                f"\nreads: {len(everyone):,} readers signed in in "
                f"{time.perf_counter() - started:.1f} s; at concurrency {args.concurrency}, "
                "then one at a time:",
                flush=True,
            )
            for c, count in ((args.concurrency, args.requests), (1, args.unloaded)):
                if count <= 0 or c in floor:
                    continue
                await drive(range(args.warmup), healthz(c))
                floor[c] = await drive(
                    capped(range(count), args.max_seconds), healthz(c), server_pid=server.pid
                )
                report(f"floor c={c}: GET /healthz", floor[c])
                for phase in PHASES:
                    measured.append(
                        await measure(
                            phase,
                            draws[phase.key][:count],
                            c,
                            args,
                            getters(phase, c),
                            conns,
                            tenant.id,
                            server.pid,
                        )
                    )
            for client in clients:
                await client.close()
    finally:
        for conn in conns:
            await conn.close()
    return measured, floor


async def measure(
    phase: Phase,
    users: list[str],
    c: int,
    args: argparse.Namespace,
    gets: list[Callable[[str], Awaitable[None]]],
    conns: Sequence[Conn],
    tenant: str,
    server_pid: int,
) -> Measured:
    def sender(conn: Conn, raw: Raw) -> Callable[[str], Awaitable[None]]:
        async def send(user: str) -> None:
            await raw(conn, tenant, user)

        return send

    # Other readers warm up than are measured.
    warm = random.Random(args.seed + c).sample(users, min(args.warmup, len(users)))
    name = phase.key if c == args.concurrency else f"{phase.key} c={c}"
    await drive(capped(warm, WARMUP_SECONDS), gets)
    http = await drive(capped(users, args.max_seconds), gets, server_pid=server_pid)
    report(f"{name} http", http)
    senders = [sender(conn, phase.raw) for conn in conns[:c]]
    await drive(capped(warm, WARMUP_SECONDS), senders)
    # The same readers as the HTTP run got, in the same order.
    raw = await drive(capped(users[: http.count], args.max_seconds), senders)
    report(f"{name} {phase.raw_label}", raw)
    full = None
    if phase.full is not None:
        senders = [sender(conn, phase.full) for conn in conns[:c]]
        full = await drive(capped(users[: http.count], args.max_seconds), senders)
        report(f"{name} raw, all its statements", full)
    return Measured(phase, c, http, raw, full)


# --- EXPLAIN ----------------------------------------------------------------------------

SCAN = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)? (?:using|on) "
    r"(\S+)(?: on (\S+))?"
)
PARTITION = re.compile(r"_(p\d{6}|default)$")


@dataclass(frozen=True, slots=True)
class Plan:
    label: str
    lines: list[str]
    execution_ms: float
    scans: dict[str, int]  # "<scan> <index>" -> partitions it ran on
    skipped: int  # scans never executed
    buffers: str
    notes: list[str]  # what the plan says about the question asked of it

    def summary(self) -> str:
        used = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in self.scans.items())
        never = f", {self.skipped} never executed" if self.skipped else ""
        return f"{self.execution_ms:8.2f} ms, {self.buffers}: {used}{never}"


async def parent_indexes(conn: Conn) -> dict[str, str]:
    """Partition index name -> the partitioned index it belongs to."""
    rows = await conn.fetch(
        "SELECT c.relname AS child, p.relname AS parent FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE c.relkind IN ('i', 'I')"
    )
    return {r["child"]: r["parent"] for r in rows}


def parse_plan(label: str, lines: list[str], parents: dict[str, str], note: str) -> Plan:
    scans: dict[str, int] = {}
    skipped = 0
    execution = float("nan")
    notes = []
    for line in lines:
        if line.startswith("Execution Time:"):
            execution = float(line.split()[2])
        if note and re.search(note, line):
            notes.append(line.strip())
        found = SCAN.search(line)
        if found is None:
            continue
        if "never executed" in line:
            skipped += 1
            continue
        kind, name, table = found.groups()
        key = f"{kind} {parents.get(name, PARTITION.sub('', name))}"
        if table:
            key += f" ({PARTITION.sub('', table)})"
        scans[key] = scans.get(key, 0) + 1
    buffers = next((ln.strip() for ln in lines if "Buffers:" in ln), "Buffers: none")
    return Plan(
        label, lines, execution, scans, skipped, buffers.removeprefix("Buffers: shared "), notes
    )


async def explain(
    conn: Conn, parents: dict[str, str], label: str, sql: str, *args: Any, note: str = ""
) -> Plan:
    lines = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)]
    return parse_plan(label, lines, parents, note)


def show(plan: Plan, full: bool) -> None:
    print(f"  {plan.label:<44} {plan.summary()}")
    for line in plan.notes:
        print(f"  {'':46}{line}")
    if full:
        print("\n".join(f"      {line}" for line in plan.lines))


async def explain_reads(conn: Conn, tenant: FeedTenant, full: bool) -> list[Plan]:
    parents = await parent_indexes(conn)
    heavy = tenant.heaviest
    t, u = tenant.id, heavy.user_id
    unread = await conn.fetchval(
        "SELECT sum(unread) FROM feed_counters WHERE tenant_id = $1 AND user_id = $2", t, u
    )
    queries: list[tuple[str, str, tuple[Any, ...], str]] = [
        ("feed page", FEED_PAGE, (t, u), r"Append|Limit"),
        ("feed page, unread", FEED_PAGE_UNREAD, (t, u), r"Append|Limit"),
        ("counters by type", COUNTERS, (t, u), r"Aggregate"),
        ("summary's 5 newest", SUMMARY_PAGE, (t, u), ""),
        ("unread count (badge)", UNREAD_BY_TYPE, (t, u), r"Aggregate"),
        ("unread_counts: unread counters alone", UNREAD_CELLS, (t, u), ""),
        ("unread_counts: its statement", UNREAD_COUNTS, (t, u), ""),
    ]
    print(
        f"\nEXPLAIN (ANALYZE, BUFFERS), second run, for the heaviest reader {u} "
        f"({heavy.items:,} items, {unread:,} unread):"
    )
    plans = []
    for label, sql, args, note in queries:
        await conn.fetch(sql, *args)  # the plans show a warm cache, as the measured runs had
        plan = await explain(conn, parents, label, sql, *args, note=note)
        show(plan, full)
        plans.append(plan)
    return plans


# The fan-out plan's lines worth showing: how the recipients are found and sorted, and
# what is written.
FAN_OUT_NOTES = r"Sort Method|HashAggregate|Unique|Scan .*(subscriptions|outbox)|(Insert|Update) on"


async def explain_fan_out(
    conn: Conn,
    tenant: str,
    stream_id: uuid.UUID,
    size: int,
    chunk: int,
    rng: random.Random,
    full: bool,
) -> list[Plan]:
    """The app's FAN_OUT for the first and the last chunk of the largest stream, each in a
    transaction rolled back (the last one's starts by moving the outbox row's cursor to
    where the chunk before it would have left it)."""
    parents = await parent_indexes(conn)
    ref = await record_event(conn, tenant, stream_id, rng)
    chunks = [("first chunk", "")]
    if size > chunk:  # else the first chunk is the only one
        last_after = f"u{size - chunk:07d}"
        chunks.append((f"last chunk (after {last_after})", last_after))
    print(
        f"\nEXPLAIN (ANALYZE, BUFFERS) of the app's FAN_OUT, {size:,} subscribers, "
        f"{chunk:,} per chunk:"
    )
    plans = []
    for label, after in chunks:
        tx = conn.transaction()
        await tx.start()
        try:
            if after:
                await conn.execute(
                    "UPDATE outbox SET fanout_cursor = $3"
                    " WHERE tenant_id = $1 AND event_id = $2 AND processed_at IS NULL",
                    ref.tenant_id,
                    ref.event_id,
                    after,
                )
            plan = await explain(
                conn,
                parents,
                f"FAN_OUT {label}",
                app_fan_out(chunk),
                ref.tenant_id,
                ref.event_id,
                ref.occurred_at,
                ref.stream_id,
                note=FAN_OUT_NOTES,
            )
        finally:
            await tx.rollback()
        show(plan, full)
        plans.append(plan)
    return plans


# --- the run ----------------------------------------------------------------------------


def fan_out_rows(results: list[FanOut], chunk: int) -> list[Row]:
    by = {(f.size, f.variant): f for f in results}
    rows = []
    for size in sorted({f.size for f in results}):
        raw, counted = by[size, "raw"].rate, by[size, "raw_counted"].rate
        committing, sync, app_sql = (by[size, v].rate for v in ("committing", "sync", "app_sql"))
        rows += [
            Row(f"fan-out {size:,}: worker path ({chunk:,}/tx)", committing, "rows/s", "raw", raw),
            Row("  worker path vs raw with counters", committing, "rows/s", "raw+ctr", counted),
            Row("  sync path (one tx)", sync, "rows/s", "raw", raw),
            Row("  app's FAN_OUT SQL, 1 chunk, asyncpg", app_sql, "rows/s", "raw", raw),
        ]
    return rows


def read_rows(measured: list[Measured], floor: dict[int, Run]) -> list[Row]:
    rows: list[Row] = []
    for c, run in floor.items():
        ms = run.ms()
        rows.append(Row(f"HTTP floor: GET /healthz, c={c} p50", ms["p50"], "ms"))
        rows.append(Row(f"HTTP floor: GET /healthz, c={c} p95", ms["p95"], "ms"))
    for m in measured:
        h, r = m.http.ms(), m.raw.ms()
        label = f"{m.phase.label}, c={m.concurrency}"
        for p in ("p50", "p95", "p99"):
            what = f"{label} {p}" + (f" (target {m.phase.target_ms:g})" if p == "p95" else "")
            rows.append(Row(what, h[p], "ms", f"{m.phase.raw_label} {p}", r[p]))
        if m.full is not None:
            rows.append(
                Row("  p95 vs all its statements", h["p95"], "ms", "raw p95", m.full.ms()["p95"])
            )
        rows.append(Row(f"  rate (n={m.http.count:,})", m.http.rate, "req/s", "raw", m.raw.rate))
    return rows


async def describe(conn: Conn) -> str:
    pg = await conn.fetchrow(
        "SELECT current_setting('server_version') AS version,"
        " current_setting('shared_buffers') AS buffers,"
        " current_setting('synchronous_commit') AS sync,"
        " (SELECT count(*) FROM pg_inherits WHERE inhparent = 'feed_items'::regclass) AS parts"
    )
    assert pg is not None
    return (
        f"{CORES} cores, PostgreSQL {pg['version']} (shared_buffers={pg['buffers']}, "
        f"synchronous_commit={pg['sync']}), feed_items in {pg['parts']} partitions"
    )


def figures(
    fan: list[FanOut],
    measured: list[Measured],
    plans: list[Plan],
    tenant: FeedTenant | None,
    concurrency: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fan:
        out[f"fanout_{f.size}_{f.variant}_rows_per_s"] = f.rate
        out.update(
            {
                f"fanout_{f.size}_{f.variant}_cpu_ms_per_1000_{k}": v
                for k, v in f.cpu_ms_per_1000().items()
            }
        )
    by = {(f.size, f.variant): f.rate for f in fan}
    for size in sorted({f.size for f in fan}):
        out[f"fanout_{size}_committing_vs_raw"] = by[size, "committing"] / by[size, "raw"]
        out[f"fanout_{size}_committing_vs_raw_counted"] = (
            by[size, "committing"] / by[size, "raw_counted"]
        )
        out[f"fanout_{size}_sync_vs_raw"] = by[size, "sync"] / by[size, "raw"]
    if tenant is not None:
        out["feed_items"] = tenant.items
        out["feed_events"] = tenant.events
        out["feed_users"] = len(tenant.readers)
        out["heaviest_items"] = tenant.heaviest.items
        if tenant.loaded is not None:
            out["load_seconds"] = tenant.loaded
    for m in measured:
        k = m.phase.key if m.concurrency == concurrency else f"{m.phase.key}_c{m.concurrency}"
        out.update({f"{k}_{p}_ms": v for p, v in m.http.ms().items()})
        out.update({f"{k}_raw_{p}_ms": v for p, v in m.raw.ms().items()})
        if m.full is not None:
            out.update({f"{k}_raw_all_{p}_ms": v for p, v in m.full.ms().items()})
        out[f"{k}_p95_vs_raw"] = m.http.ms()["p95"] / m.raw.ms()["p95"]
        out[f"{k}_per_s"] = m.http.rate
        out[f"{k}_raw_per_s"] = m.raw.rate
        if m.http.cpu is not None:
            out.update({f"{k}_cpu_ms_{w}": v for w, v in m.http.cpu.per(m.http.count).items()})
    out["explain_ms"] = {p.label: p.execution_ms for p in plans}
    return out


async def run(args: argparse.Namespace, settings: Settings, code: str) -> dict[str, Any]:
    assert settings.database_url is not None
    dsn = to_asyncpg_dsn(settings.database_url)
    chunk = args.chunk or settings.fanout_chunk_size
    conn = await connect(dsn)
    try:
        print(f"tidings feeds benchmark, code {code}: {await describe(conn)}")
        if (busy := await busy_cores()) > 0.2:
            print(f"warning: {busy:.1f} cores were busy before the run; expect noisy figures")
        fan: list[FanOut] = []
        plans: list[Plan] = []
        if "fanout" not in args.skip:
            fan, plans = await fan_out_phase(args, settings, dsn)
        tenant = None
        measured: list[Measured] = []
        floor: dict[int, Run] = {}
        if "reads" not in args.skip or "explain" not in args.skip:
            tenant = await prepare_feed_tenant(conn, args)
            heavy = tenant.heaviest
            print(
                f"\nread tenant {tenant.id}: {tenant.items:,} items of {tenant.events:,} events, "
                f"{len(tenant.readers):,} readers, heaviest {heavy.user_id} with {heavy.items:,}; "
                f"{sum(r.items >= HEAVY_ITEMS for r in tenant.readers)} readers with "
                f">= {HEAVY_ITEMS:,}"
                + (f"; loaded in {tenant.loaded:.0f} s" if tenant.loaded else " (reused)"),
                flush=True,
            )
            if "reads" not in args.skip:
                measured, floor = await reads_phase(args, settings, dsn, tenant)
            if "explain" not in args.skip:
                plans = await explain_reads(conn, tenant, args.plans) + plans
    finally:
        await conn.close()
    print("\nTidings beside the same work through asyncpg (median round for fan-out):")
    print_table(fan_out_rows(fan, chunk) + read_rows(measured, floor))
    print()
    for m in measured:
        p95 = m.http.ms()["p95"]
        verdict = "meets" if p95 <= m.phase.target_ms else "MISSES"
        target = m.phase.target_ms
        print(f"{m.phase.label}, c={m.concurrency}: p95 {fmt(p95)} ms {verdict} its {target:g} ms")
    for f in fan:
        if f.variant == "committing":
            verdict = "meets" if f.rate >= 100_000 else "MISSES"
            print(f"fan-out to {f.size:,} (worker path): {fmt(f.rate)} rows/s {verdict} 100,000")
    return {
        **figures(fan, measured, plans, tenant, args.concurrency),
        **{f"healthz_c{c}_{p}_ms": v for c, r in floor.items() for p, v in r.ms().items()},
        "chunk": chunk,
        "concurrency": args.concurrency,
        "cores": CORES,
        "code": code,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = bench_settings("bench-feeds")
    # fan_out_committing logs each event; the figures are the output here.
    configure_logging("WARNING", json=False)
    upgrade(settings)
    data = asyncio.run(run(args, settings, code_version()))
    print_figures(data)


if __name__ == "__main__":
    main()
