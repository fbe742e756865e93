"""Reads at scale: timelines, the company-wide list, search and stats over HTTP, each
beside the same SQL sent straight through asyncpg.

Measured in one run, against the database in TIDINGS_DATABASE_URL (migrated first), on a
tenant of --events events (generated with bench.dataset, or reused when a tenant of that
name exists: loading takes ~70 s per million) and a real uvicorn server started for it:

  timeline        GET /api/v1/activities/timeline/?object_type&object_id, first page of
                  50; objects drawn by activity (80%) or uniformly (20%)
  timeline_hot    the same for the hottest object
  range           GET /api/v1/activities/?date_from&date_to, a random 7-day window
  search_rare     GET /api/v1/activities/?q=<one of the vocabulary's rarest words>
  search_common   GET /api/v1/activities/?q=<one of its most common words>
  stats_30/_365   GET /api/v1/activities/stats/ over 30 or 365 days (day, type, status)

each at --concurrency, then timeline and range one request at a time (--unloaded). Each
raw baseline sends the statements the endpoint needs (the app's SQLAlchemy statements
written out by hand; no BEGIN/COMMIT) on as many asyncpg connections. Then each raw
query runs under EXPLAIN (ANALYZE, BUFFERS), and a Redis GET of the first timeline page
is timed beside the raw page query (issue 3's cache question). --skip takes phase names
and `cache`.

`make bench-timeline` runs it with embedded PostgreSQL and Valkey when no URLs are set.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
import orjson
from redis.asyncio import Redis

from app.auth import mint_token
from app.schema import upgrade
from app.services.events import COUNT_CAP
from app.settings import Settings, to_asyncpg_dsn
from bench.common import (
    CORES,
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
from bench.dataset import Words, generate, settle

PAGE_SIZE = 50
READER = "user-0"  # a user the data set creates, so the token's user has a name
DAY = timedelta(days=1)
COLD_SHARE = 0.2  # timeline reads of objects drawn uniformly rather than by activity
WARMUP_SECONDS = 3.0
UNLOADED = ("timeline", "range")  # measured one request at a time too
T = TypeVar("T")

# The statements the endpoints send, as SQLAlchemy compiles them (parameters where the
# app has parameters, so the planner sees the same thing), aliases aside.
STREAM_FOR_OBJECT = """
SELECT id, tenant_id, slug, name, description, stream_type, object_type, object_id,
       is_active, event_count, subscriber_count, last_event_at, created_by, created_at,
       updated_at
  FROM streams
 WHERE tenant_id = $1::varchar AND object_type = $2::varchar AND object_id = $3::varchar
"""
EVENT_VIEW = """
SELECT e.id, e.stream_id, s.slug AS stream, s.name AS stream_name, s.object_type,
       s.object_id, e.event_type, e.importance, e.actor_id, u.email AS actor_email,
       u.first_name AS actor_first_name, u.last_name AS actor_last_name, e.summary,
       e.description, e.data, e.is_system_generated, e.assigned_to, e.status, e.priority,
       e.occurred_at, e.created_at, coalesce(e.edited_at, e.created_at) AS updated_at{extra}
  FROM events e
  JOIN streams s ON s.id = e.stream_id
  LEFT JOIN users u ON u.tenant_id = e.tenant_id AND u.id = e.actor_id
"""
TIMELINE_PAGE = (
    EVENT_VIEW.format(extra="")
    + """
 WHERE e.tenant_id = $1::varchar AND NOT e.is_deleted AND e.stream_id = $2::uuid
 ORDER BY e.occurred_at DESC, e.id DESC
 LIMIT $3::integer
"""
)
# Not in the raw timeline: what the timeline sends when it fails to use the stream's
# counter (see docs/performance.md); explained for its cost.
TIMELINE_COUNT = """
SELECT count(*) FROM (
    SELECT 1 FROM events
     WHERE tenant_id = $1::varchar AND NOT is_deleted AND stream_id = $2::uuid
     LIMIT $3::integer) AS anon_1
"""
RANGE_PAGE = (
    EVENT_VIEW.format(extra="")
    + """
 WHERE e.tenant_id = $1::varchar AND NOT e.is_deleted
   AND e.occurred_at >= $2::timestamptz AND e.occurred_at < $3::timestamptz
 ORDER BY e.occurred_at DESC, e.id DESC
 LIMIT $4::integer
"""
)
RANGE_COUNT = """
SELECT count(*) FROM (
    SELECT 1 FROM events
     WHERE tenant_id = $1::varchar AND NOT is_deleted
       AND occurred_at >= $2::timestamptz AND occurred_at < $3::timestamptz
     LIMIT $4::integer) AS anon_1
"""
# text_query(): the stemmed web-search query with every lexeme also a prefix.
TS_QUERY = (
    "to_tsquery('simple'::regconfig, regexp_replace(CAST(websearch_to_tsquery("
    "'english'::regconfig, $2::varchar) AS text), $3::varchar, $4::varchar, $5::varchar))"
)
TS_QUERY_ARGS = ("'(?:[^']|'')+'", "\\&:*", "g")
HEADLINE = f""",
       matches.rank,
       ts_headline('english'::regconfig,
                   concat_ws($7::varchar, e.summary, nullif(e.description, $8::varchar),
                             array_to_string(ARRAY(SELECT jsonb_path_query(e.data,
                                 'strict $.** ? (@.type() == "string")') #>> '{{}}'), ' ')),
                   {TS_QUERY},
                   'MaxFragments=2, MaxWords=30, MinWords=8, StartSel=\ue000, StopSel=\ue001')
                   AS headline"""
SEARCH = (
    EVENT_VIEW.format(extra=HEADLINE)
    + f"""
  JOIN (SELECT id, occurred_at, ts_rank_cd(search, {TS_QUERY}) AS rank
          FROM events
         WHERE tenant_id = $1::varchar AND NOT is_deleted AND search @@ {TS_QUERY}
         ORDER BY rank DESC, occurred_at DESC, id DESC
         LIMIT $6::integer OFFSET 0) AS matches
    ON matches.id = e.id AND matches.occurred_at = e.occurred_at
 WHERE e.tenant_id = $1::varchar
 ORDER BY matches.rank DESC, e.occurred_at DESC, e.id DESC
"""
)
SEARCH_COUNT = f"""
SELECT count(*) FROM (
    SELECT 1 FROM events
     WHERE tenant_id = $1::varchar AND NOT is_deleted AND search @@ {TS_QUERY}
     LIMIT $6::integer) AS anon_1
"""
ASSIGNEES = """
SELECT id, email, first_name, last_name FROM users
 WHERE tenant_id = $1::varchar AND id = ANY($2::varchar[])
"""
STATS = """
SELECT per_user.day, per_user.event_type, per_user.status, sum(per_user.n) AS count,
       count(*) FILTER (WHERE per_user.user_id != '') AS user_count
  FROM (SELECT day, event_type, status, user_id, sum(count) AS n
          FROM activity_rollup
         WHERE tenant_id = $1::varchar AND day >= $2::date AND day <= $3::date
         GROUP BY day, event_type, status, user_id
        HAVING sum(count) > 0) AS per_user
 GROUP BY per_user.day, per_user.event_type, per_user.status
 ORDER BY per_user.day, per_user.event_type, per_user.status
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.timeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--events", type=int, default=1_000_000, help="events in the tenant (%(default)s)")
    add("--months", type=int, default=24, help="months the events span (%(default)s)")
    add("--streams", type=int, default=None, help="objects (default: events / 100, >= 200)")
    add("--users", type=int, default=1_000, help="users (%(default)s)")
    add("--seed", type=int, default=42, help="seed for the data and the requests")
    add("--tenant", default=None, help="default bench-tl-<events>; reused if it exists")
    add("--reuse", metavar="TENANT", default=None, help="measure this loaded tenant")
    add("--requests", type=int, default=1_000, help="requests per query (%(default)s)")
    add("--warmup", type=int, default=100, help="unmeasured requests first (%(default)s)")
    add("--concurrency", type=int, default=8, help="requests in flight (%(default)s)")
    add("--max-seconds", type=float, default=10.0, help="cap per measured phase (%(default)s)")
    add("--unloaded", type=int, default=300, help="requests at c=1 (%(default)s; 0: none)")
    add("--plans", action="store_true", help="print the full EXPLAIN plans")
    add("--check-rollup", action="store_true", help="check the rollup against the events")
    add("--skip", default="", help="comma-separated phases to skip, e.g. search_common")
    return parser.parse_args(argv)


# --- the tenant -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Obj:
    stream_id: Any
    object_type: str
    object_id: str
    events: int


@dataclass(slots=True)
class Tenant:
    id: str
    objects: list[Obj]
    events: int
    first: datetime
    last: datetime
    rare: list[str] = field(default_factory=list)
    common: list[str] = field(default_factory=list)

    @property
    def hottest(self) -> Obj:
        return max(self.objects, key=lambda o: o.events)


async def prepare_tenant(
    conn: asyncpg.Connection[Any], args: argparse.Namespace
) -> tuple[Tenant, float | None]:
    """The tenant to read, loaded first unless it exists; returns it and the load time."""
    name = args.reuse or args.tenant or f"bench-tl-{args.events}"
    exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM streams WHERE tenant_id = $1)", name)
    loaded = None
    if not exists:
        if args.reuse:
            raise SystemExit(f"tenant {name!r} has no streams in this database")
        streams = args.streams or max(200, args.events // 100)
        print(
            f"loading {args.events:,} events over {args.months} months into {name} "
            f"({streams:,} objects, {args.users:,} users; ~70 s per million)...",
            flush=True,
        )
        started = time.perf_counter()
        await generate(
            conn,
            tenant_id=name,
            streams=streams,
            users=args.users,
            events=args.events,
            months=args.months,
            seed=args.seed,
        )
        loaded = time.perf_counter() - started
    rows = await conn.fetch(
        "SELECT id, object_type, object_id, event_count FROM streams"
        " WHERE tenant_id = $1 AND object_type IS NOT NULL AND event_count > 0",
        name,
    )
    span = await conn.fetchrow(
        "SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM events"
        " WHERE tenant_id = $1",
        name,
    )
    if not rows or span is None or span["first"] is None:
        raise SystemExit(f"tenant {name!r} has no events")
    objects = [Obj(r["id"], r["object_type"], r["object_id"], r["event_count"]) for r in rows]
    tenant = Tenant(name, objects, sum(o.events for o in objects), span["first"], span["last"])
    if exists and not args.reuse and tenant.events < args.events:
        print(f"warning: {name} holds {tenant.events:,} events, fewer than --events asks")
    if exists and await unsettled(conn) > tenant.events // 5:
        print("vacuuming the events first, as autovacuum would have (once)...", flush=True)
        await settle(conn)
    await pick_words(conn, tenant)
    return tenant, loaded


async def unsettled(conn: asyncpg.Connection[Any]) -> int:
    """Rows inserted into events since they were last vacuumed."""
    n = await conn.fetchval(
        "SELECT coalesce(sum(n_ins_since_vacuum), 0) FROM pg_stat_user_tables"
        " WHERE relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass)"
    )
    return int(n)


async def pick_words(conn: asyncpg.Connection[Any], tenant: Tenant) -> None:
    """Rare and common search terms from the data set's Zipf vocabulary, checked against
    the data: a word also matches as a prefix, so a rare word that starts many others is
    not rare."""
    words = Words.shared().words
    matches = (
        f"SELECT count(*) FROM (SELECT 1 FROM events WHERE tenant_id = $1 AND NOT is_deleted"
        f" AND search @@ {TS_QUERY} LIMIT $6) AS m"
    )
    rare: list[str] = []
    # The last 500 ranks of 5,000 each hold ~0.002% of the words: a few hundred events.
    ceiling = max(50, tenant.events // 1_000)
    for word in reversed(words[-500:]):
        n = await conn.fetchval(matches, tenant.id, word, *TS_QUERY_ARGS, ceiling + 1)
        if 0 < n <= ceiling:
            rare.append(word)
        if len(rare) == 20:
            break
    tenant.rare = rare or words[-20:]
    tenant.common = words[:5]


# --- what the phases send ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One request: its query string over HTTP and its raw statements' arguments."""

    params: dict[str, str]
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Phase:
    key: str
    label: str
    path: str
    raw: Callable[[asyncpg.Connection[Any], Case], Awaitable[None]]
    cases: list[Case]
    target_ms: float


async def raw_timeline(conn: asyncpg.Connection[Any], case: Case) -> None:
    tenant, object_type, object_id = case.args
    stream = await conn.fetchrow(STREAM_FOR_OBJECT, tenant, object_type, object_id)
    assert stream is not None
    await conn.fetch(TIMELINE_PAGE, tenant, stream["id"], PAGE_SIZE + 1)


async def _assignees(conn: asyncpg.Connection[Any], tenant: str, rows: list[Any]) -> None:
    # The list endpoint names assignees with one more query when the page has any.
    ids = sorted({r["assigned_to"] for r in rows if r["assigned_to"]})
    if ids:
        await conn.fetch(ASSIGNEES, tenant, ids)


async def raw_range(conn: asyncpg.Connection[Any], case: Case) -> None:
    tenant, since, until = case.args
    rows = await conn.fetch(RANGE_PAGE, tenant, since, until, PAGE_SIZE + 1)
    await conn.fetchval(RANGE_COUNT, tenant, since, until, COUNT_CAP + 1)
    await _assignees(conn, tenant, rows)


def _search_args(tenant: str, word: str, limit: int, *, headline: bool = False) -> tuple[Any, ...]:
    # The headline's separator and nullif() argument are parameters in the app's statement.
    return (tenant, word, *TS_QUERY_ARGS, limit, *((" — ", "") if headline else ()))


async def raw_search(conn: asyncpg.Connection[Any], case: Case) -> None:
    tenant, word = case.args
    rows = await conn.fetch(SEARCH, *_search_args(tenant, word, PAGE_SIZE + 1, headline=True))
    await conn.fetchval(SEARCH_COUNT, *_search_args(tenant, word, COUNT_CAP + 1))
    await _assignees(conn, tenant, rows)


async def raw_stats(conn: asyncpg.Connection[Any], case: Case) -> None:
    await conn.fetch(STATS, *case.args)


def phases(tenant: Tenant, count: int, seed: int | None) -> list[Phase]:
    rng = random.Random(seed)
    objects = tenant.objects
    weights = list(itertools.accumulate(o.events for o in objects))

    def timeline_case(o: Obj) -> Case:
        params = {"object_type": o.object_type, "object_id": o.object_id}
        return Case({**params, "page_size": str(PAGE_SIZE)}, (tenant.id, *params.values()))

    # Whole UTC days, so the API's date parameters mean exactly the raw bounds.
    first_day = tenant.first.astimezone(UTC).date() + DAY
    last_day = tenant.last.astimezone(UTC).date()

    def day_in(start: date, end: date) -> date:
        return start + rng.randrange(max((end - start).days, 1)) * DAY

    def range_case() -> Case:
        start = day_in(first_day, last_day - 7 * DAY)
        since = datetime.combine(start, datetime.min.time(), UTC)
        params = {
            "date_from": start.isoformat(),
            "date_to": (start + 6 * DAY).isoformat(),
            "page_size": str(PAGE_SIZE),
        }
        return Case(params, (tenant.id, since, since + 7 * DAY))

    def search_case(words: list[str]) -> Case:
        word = rng.choice(words)
        return Case({"q": word, "page_size": str(PAGE_SIZE)}, (tenant.id, word))

    def stats_case(days: int) -> Case:
        end = day_in(first_day + days * DAY, last_day + DAY)
        start = end - (days - 1) * DAY
        params = {"date_from": start.isoformat(), "date_to": end.isoformat()}
        return Case(params, (tenant.id, start, end))

    hottest = tenant.hottest
    # Most reads go to busy objects, some to the long tail of quiet ones.
    drawn = [
        rng.choice(objects)
        if rng.random() < COLD_SHARE
        else rng.choices(objects, cum_weights=weights)[0]
        for _ in range(count)
    ]
    return [
        Phase(
            "timeline",
            "timeline page, mixed objects",
            "/api/v1/activities/timeline/",
            raw_timeline,
            [timeline_case(o) for o in drawn],
            20,
        ),
        Phase(
            "timeline_hot",
            f"timeline page, hottest object ({hottest.events:,} ev)",
            "/api/v1/activities/timeline/",
            raw_timeline,
            [timeline_case(hottest)] * count,
            20,
        ),
        Phase(
            "range",
            "list, 7-day date range",
            "/api/v1/activities/",
            raw_range,
            [range_case() for _ in range(count)],
            30,
        ),
        Phase(
            "search_rare",
            "search, rare word",
            "/api/v1/activities/",
            raw_search,
            [search_case(tenant.rare) for _ in range(count)],
            30,
        ),
        Phase(
            "search_common",
            "search, common word",
            "/api/v1/activities/",
            raw_search,
            [search_case(tenant.common) for _ in range(count)],
            30,
        ),
        Phase(
            "stats_30",
            "stats, 30 days",
            "/api/v1/activities/stats/",
            raw_stats,
            [stats_case(30) for _ in range(count)],
            100,
        ),
        Phase(
            "stats_365",
            "stats, 365 days",
            "/api/v1/activities/stats/",
            raw_stats,
            [stats_case(365) for _ in range(count)],
            100,
        ),
    ]


# --- measuring --------------------------------------------------------------------------


def capped(items: Iterable[T], seconds: float) -> Iterator[T]:
    """`items` until `seconds` have passed: slow queries get fewer samples, not hours."""
    deadline = time.perf_counter() + seconds
    for item in items:
        if time.perf_counter() > deadline:
            return
        yield item


@dataclass(frozen=True, slots=True)
class Measured:
    phase: Phase
    http: Run
    raw: Run
    concurrency: int


def report(name: str, run: Run, per: str) -> None:
    ms = run.ms()
    print(
        f"{name:<26} {run.count:>5,} in {run.seconds:5.1f} s: {fmt(run.rate):>6} {per}/s; "
        f"p50 {fmt(ms['p50'])} p95 {fmt(ms['p95'])} p99 {fmt(ms['p99'])} ms",
        flush=True,
    )
    if run.cpu is not None:
        print(f"{'':27}{run.cpu.describe(run.count, per)}", flush=True)


async def measure(
    phase: Phase,
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    conns: Sequence[asyncpg.Connection[Any]],
    server_pid: int,
    *,
    concurrency: int | None = None,
    requests: int | None = None,
) -> Measured:
    async def get(case: Case) -> None:
        response = await client.get(phase.path, params=case.params)
        if response.status_code != 200:
            raise RuntimeError(f"GET {phase.path}: {response.status_code} {response.text[:300]}")

    def raw_sender(conn: asyncpg.Connection[Any]) -> Callable[[Case], Awaitable[None]]:
        async def send(case: Case) -> None:
            await phase.raw(conn, case)

        return send

    raw_senders = [raw_sender(c) for c in conns]
    # Other requests warm up than are measured, so the measured ones do not read pages
    # the warm-up just read (the hot object aside, which is the point of its row).
    warm, cases = phase.cases[: args.warmup], phase.cases[args.warmup :]
    c = concurrency or args.concurrency
    cases = cases[: requests or len(cases)]
    name = phase.key if c == args.concurrency else f"{phase.key} c={c}"
    await drive(capped(warm, WARMUP_SECONDS), [get] * c)
    http = await drive(capped(cases, args.max_seconds), [get] * c, server_pid=server_pid)
    report(f"{name} http", http, "req")
    await drive(capped(warm, WARMUP_SECONDS), raw_senders[:c])
    # The same requests as the HTTP run got, in the same order.
    raw = await drive(capped(cases[: http.count], args.max_seconds), raw_senders[:c])
    report(f"{name} raw", raw, "req")
    return Measured(phase, http, raw, c)


async def connect(dsn: str) -> asyncpg.Connection[Any]:
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    # The app decodes jsonb (with orjson); the baseline does the same work.
    await conn.set_type_codec("jsonb", encoder=str, decoder=orjson.loads, schema="pg_catalog")
    return conn


async def http_and_raw(
    args: argparse.Namespace, dsn: str, token: str, chosen: list[Phase], tenant: Tenant
) -> tuple[list[Measured], bytes]:
    """Every phase over HTTP then raw; returns the figures and the hottest object's first
    timeline page as the API sends it (what a cache would hold)."""
    hot = tenant.hottest
    conns = [await connect(dsn) for _ in range(args.concurrency)]
    measured = []
    try:
        async with (
            api_server(dict(os.environ)) as server,
            httpx.AsyncClient(
                base_url=server.base_url,
                headers={"authorization": f"Bearer {token}"},
                limits=httpx.Limits(max_connections=args.concurrency),
                timeout=120,
            ) as client,
        ):
            print(f"\n{'phase':<26} requests, rate and latency at concurrency {args.concurrency}")
            for phase in chosen:
                measured.append(await measure(phase, args, client, conns, server.pid))
            # One at a time: a request's own latency, without queueing behind the others.
            for phase in chosen:
                if phase.key in UNLOADED and args.unloaded and args.concurrency > 1:
                    one = await measure(
                        phase,
                        args,
                        client,
                        conns,
                        server.pid,
                        concurrency=1,
                        requests=args.unloaded,
                    )
                    measured.append(one)
            page = await client.get(
                "/api/v1/activities/timeline/",
                params={"object_type": hot.object_type, "object_id": hot.object_id},
            )
            page.raise_for_status()
    finally:
        for c in conns:
            await c.close()
    return measured, page.content


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
    planning_ms: float
    scans: dict[str, int]  # "<scan> <index or table>" -> how many partitions it ran on
    skipped: int  # scans never executed (partitions the executor did not need)
    buffers: str

    def summary(self) -> str:
        used = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in self.scans.items())
        never = f", {self.skipped} never executed" if self.skipped else ""
        return (
            f"{self.execution_ms:7.2f} ms (planning {self.planning_ms:.2f}), {self.buffers}: "
            f"{used}{never}"
        )


async def parent_indexes(conn: asyncpg.Connection[Any]) -> dict[str, str]:
    """Partition index name -> the partitioned index it belongs to."""
    rows = await conn.fetch(
        """
        SELECT c.relname AS child, p.relname AS parent
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
          JOIN pg_class p ON p.oid = i.inhparent
         WHERE c.relkind = 'I' OR c.relkind = 'i'
        """
    )
    return {r["child"]: r["parent"] for r in rows}


async def explain(
    conn: asyncpg.Connection[Any], parents: dict[str, str], label: str, sql: str, *args: Any
) -> Plan:
    # Once unmeasured first: the plans show a warm cache, as the measured runs had.
    await conn.fetch(sql, *args)
    lines = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)]
    scans: dict[str, int] = {}
    skipped = 0
    timings = {"Execution": float("nan"), "Planning": float("nan")}
    for line in lines:
        head, _, rest = line.partition(" Time: ")
        if head in timings:
            timings[head] = float(rest.split()[0])
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
    # The top node's buffers: everything the statement touched.
    buffers = next((ln.strip() for ln in lines if "Buffers:" in ln), "Buffers: none")
    buffers = buffers.removeprefix("Buffers: shared ")
    return Plan(label, lines, timings["Execution"], timings["Planning"], scans, skipped, buffers)


async def explain_all(conn: asyncpg.Connection[Any], tenant: Tenant, full: bool) -> list[Plan]:
    parents = await parent_indexes(conn)
    hot = tenant.hottest
    cold = min(tenant.objects, key=lambda o: (o.events, o.object_id))
    typical = sorted(tenant.objects, key=lambda o: o.events)[len(tenant.objects) // 2]
    midnight = tenant.last.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = midnight - 180 * DAY
    last_day = tenant.last.astimezone(UTC).date()
    page, cap = PAGE_SIZE + 1, COUNT_CAP + 1
    rare, common = tenant.rare[0], tenant.common[0]
    t = tenant.id
    week = (t, since, since + 7 * DAY)
    queries: list[tuple[str, str, tuple[Any, ...]]] = [
        ("stream for object", STREAM_FOR_OBJECT, (t, hot.object_type, hot.object_id)),
        (f"timeline, hottest ({hot.events:,} ev)", TIMELINE_PAGE, (t, hot.stream_id, page)),
        (f"timeline, median ({typical.events:,} ev)", TIMELINE_PAGE, (t, typical.stream_id, page)),
        (f"timeline, coldest ({cold.events:,} ev)", TIMELINE_PAGE, (t, cold.stream_id, page)),
        ("timeline count, hottest", TIMELINE_COUNT, (t, hot.stream_id, cap)),
        ("7-day range page", RANGE_PAGE, (*week, page)),
        ("7-day range count", RANGE_COUNT, (*week, cap)),
        (f"search page, rare {rare!r}", SEARCH, _search_args(t, rare, page, headline=True)),
        (f"search count, rare {rare!r}", SEARCH_COUNT, _search_args(t, rare, cap)),
        (f"search page, common {common!r}", SEARCH, _search_args(t, common, page, headline=True)),
        (f"search count, common {common!r}", SEARCH_COUNT, _search_args(t, common, cap)),
        ("stats, 30 days", STATS, (t, last_day - 29 * DAY, last_day)),
        ("stats, 365 days", STATS, (t, last_day - 364 * DAY, last_day)),
    ]  # fmt: skip
    found = []
    print("\nEXPLAIN (ANALYZE, BUFFERS) of each raw query (its second run) on the loaded data:")
    for label, sql, args in queries:
        plan = await explain(conn, parents, label, sql, *args)
        found.append(plan)
        print(f"  {label:<36} {plan.summary()}")
        if full:
            print("\n".join(f"      {line}" for line in plan.lines))
    return found


# --- the cache question -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheFigures:
    payload_bytes: int
    runs: dict[str, Run]  # "redis c=N" / "raw page c=N"


async def cache_question(
    args: argparse.Namespace, redis_url: str, dsn: str, payload: bytes, tenant: Tenant
) -> CacheFigures:
    """A Redis GET of a first timeline page (the JSON the API sent) beside the raw page
    query it would replace, one at a time and at --concurrency."""
    key = f"bench:timeline:{secrets.token_hex(4)}"
    redis = Redis.from_url(redis_url, max_connections=args.concurrency)
    conns = [await connect(dsn) for _ in range(args.concurrency)]
    hot = tenant.hottest
    runs: dict[str, Run] = {}

    async def get(_: int) -> None:
        if await redis.get(key) is None:
            raise RuntimeError("the cached page vanished")

    def page_query(conn: asyncpg.Connection[Any]) -> Callable[[int], Awaitable[None]]:
        async def send(_: int) -> None:
            await conn.fetch(TIMELINE_PAGE, tenant.id, hot.stream_id, PAGE_SIZE + 1)

        return send

    print(f"\ncache question: the hottest object's first page, {len(payload) / 1024:.0f} KB")
    try:
        await redis.set(key, payload, ex=600)
        for c in sorted({1, args.concurrency}):
            for name, senders in (
                (f"redis GET c={c}", [get] * c),
                (f"raw page c={c}", [page_query(conn) for conn in conns[:c]]),
            ):
                await drive(range(args.warmup), senders)
                runs[name] = await drive(range(args.requests), senders)
                report(name, runs[name], "op")
    finally:
        await redis.delete(key)
        await redis.aclose()
        for conn in conns:
            await conn.close()
    return CacheFigures(len(payload), runs)


# --- the run ----------------------------------------------------------------------------


def table(measured: list[Measured], cache: CacheFigures | None, concurrency: int) -> list[Row]:
    rows: list[Row] = []
    for m in measured:
        h, r = m.http.ms(), m.raw.ms()
        label = m.phase.label + ("" if m.concurrency == concurrency else f", c={m.concurrency}")
        for p in ("p50", "p95", "p99"):
            what = f"{label} {p}"
            if p == "p95":
                what += f" (target {m.phase.target_ms:.0f})"
            rows.append(Row(what, h[p], "ms", f"raw {p}", r[p]))
        rate = f"{label} rate (n={m.http.count:,})"
        rows.append(Row(rate, m.http.rate, "req/s", "raw", m.raw.rate))
    if cache is not None:
        for c in sorted({int(k.rsplit("=", 1)[1]) for k in cache.runs}):
            got, page = cache.runs[f"redis GET c={c}"].ms(), cache.runs[f"raw page c={c}"].ms()
            for p in ("p50", "p99"):
                rows.append(Row(f"cache: Redis GET c={c} {p}", got[p], "ms", "raw page", page[p]))
    return rows


async def describe(conn: asyncpg.Connection[Any], tenant: Tenant, loaded: float | None) -> str:
    pg = await conn.fetchrow(
        "SELECT current_setting('server_version') AS version,"
        " current_setting('shared_buffers') AS buffers,"
        " current_setting('work_mem') AS work_mem, current_setting('jit') AS jit,"
        " (SELECT count(*) FROM activity_rollup WHERE tenant_id = $1) AS rollup,"
        " (SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass) AS parts",
        tenant.id,
    )
    assert pg is not None
    return (
        f"{CORES} cores, PostgreSQL {pg['version']} (shared_buffers={pg['buffers']}, "
        f"work_mem={pg['work_mem']}, jit={pg['jit']})\n"
        f"tenant {tenant.id}: {tenant.events:,} events on {len(tenant.objects):,} objects, "
        f"{tenant.first:%Y-%m-%d} to {tenant.last:%Y-%m-%d} ({pg['parts']} partitions); "
        f"hottest object {tenant.hottest.events:,} events; {pg['rollup']:,} rollup rows"
        + (f"; loaded in {loaded:.0f} s" if loaded else " (reused)")
    )


async def run(args: argparse.Namespace, settings: Settings, code: str) -> dict[str, Any]:
    assert settings.database_url is not None
    assert settings.redis_url is not None
    dsn = to_asyncpg_dsn(settings.database_url)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    conn = await asyncpg.connect(dsn)
    try:
        tenant, loaded = await prepare_tenant(conn, args)
        if args.check_rollup:
            await check_rollup(conn, tenant.id)
        print(f"tidings timeline benchmark, code {code}: {await describe(conn, tenant, loaded)}")
        print(f"search words: rare {', '.join(tenant.rare[:4])}, ...; common {tenant.common}")
        if (busy := await busy_cores()) > 0.2:
            print(f"warning: {busy:.1f} cores were busy before the run; expect noisy figures")
        token = mint_token(settings, tenant_id=tenant.id, user_id=READER)
        count = args.warmup + args.requests
        chosen = [p for p in phases(tenant, count, args.seed) if p.key not in skip]
        measured, payload = await http_and_raw(args, dsn, token, chosen, tenant)
        plans = await explain_all(conn, tenant, args.plans)
    finally:
        await conn.close()
    cache = None
    if "cache" not in skip:
        cache = await cache_question(args, settings.redis_url, dsn, payload, tenant)
    print(f"\nTidings over HTTP beside the same statements through asyncpg, c={args.concurrency}:")
    print_table(table(measured, cache, args.concurrency))
    print()
    for m in measured:
        p95 = m.http.ms()["p95"]
        verdict = "meets" if p95 <= m.phase.target_ms else "MISSES"
        print(
            f"{m.phase.label} (c={m.concurrency}): p95 {fmt(p95)} ms {verdict} seed 004's "
            f"{m.phase.target_ms:.0f} ms"
        )
    return figures(tenant, measured, cache, plans, code, args.concurrency)


async def check_rollup(conn: asyncpg.Connection[Any], tenant: str) -> None:
    """The rollup holds what the app would have written for these events (its key: UTC
    day, type, status or '', assignee or actor or '')."""
    wrong = await conn.fetchval(
        """
        WITH truth AS (
            SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, event_type,
                   coalesce(status, '') AS status, coalesce(assigned_to, actor_id, '') AS user_id,
                   count(*) AS n
              FROM events WHERE tenant_id = $1 AND NOT is_deleted GROUP BY 1, 2, 3, 4),
        rollup AS (
            SELECT day, event_type, status, user_id, sum(count) AS n
              FROM activity_rollup WHERE tenant_id = $1 GROUP BY 1, 2, 3, 4)
        SELECT count(*) FROM truth FULL JOIN rollup USING (day, event_type, status, user_id)
         WHERE truth.n IS DISTINCT FROM rollup.n
        """,
        tenant,
    )
    if wrong:
        raise SystemExit(f"the rollup disagrees with the events on {wrong:,} keys")
    print("checked: the rollup matches the events")


def figures(
    tenant: Tenant,
    measured: list[Measured],
    cache: CacheFigures | None,
    plans: list[Plan],
    code: str,
    concurrency: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {"events": tenant.events, "objects": len(tenant.objects)}
    for m in measured:
        k = m.phase.key if m.concurrency == concurrency else f"{m.phase.key}_c{m.concurrency}"
        out.update({f"{k}_{p}_ms": v for p, v in m.http.ms().items()})
        out.update({f"{k}_raw_{p}_ms": v for p, v in m.raw.ms().items()})
        out[f"{k}_p95_vs_raw"] = m.http.ms()["p95"] / m.raw.ms()["p95"]
        out[f"{k}_per_s"] = m.http.rate
        out[f"{k}_raw_per_s"] = m.raw.rate
        if m.http.cpu is not None:
            # Milliseconds of CPU per request: client, API server, PostgreSQL and the rest.
            out.update({f"{k}_cpu_ms_{w}": v for w, v in m.http.cpu.per(m.http.count).items()})
    if cache is not None:
        out["cached_page_bytes"] = cache.payload_bytes
        for name, r in cache.runs.items():
            slug = name.replace(" ", "_").replace("=", "").lower()
            out.update({f"cache_{slug}_{p}_ms": v for p, v in r.ms().items()})
    out["explain_ms"] = {p.label: p.execution_ms for p in plans}
    return {**out, "cores": CORES, "code": code}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = bench_settings("bench-timeline")
    upgrade(settings)
    data = asyncio.run(run(args, settings, code_version()))
    print_figures(data)


if __name__ == "__main__":
    main()
