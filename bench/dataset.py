"""A synthetic tenant shaped like real activity, loaded with COPY.

N streams, M users and K events: a few hot streams and busy users get most events
(Pareto-distributed weights), words follow a Zipf curve (so full-text search has both
common and rare terms), and events are spread over the last `--months` months in time
order, with UUIDv7 ids taken from their `occurred_at`. Calls, meetings and emails are
often CRM activities (seed 004): assigned to a user, with a status and a priority.

    python -m bench.dataset --events 1000000 --months 24

Other benchmarks `await generate(conn, ...)` with an asyncpg connection.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from uuid_utils.compat import uuid7

from app.schema import upgrade
from app.services.event_catalog import BUILTIN_BY_KEY, render_summary
from app.settings import Settings, to_asyncpg_dsn

# Every stored column but the generated `search` and those left to their defaults.
EVENT_COLUMNS = tuple(
    "id occurred_at tenant_id stream_id event_type importance actor_id summary description "
    "data is_system_generated created_at assigned_to status priority".split()
)
STREAM_COLUMNS = tuple(
    "id tenant_id slug name stream_type object_type object_id created_by created_at "
    "updated_at".split()
)
OBJECT_TYPES = (
    ("crm.lead", "crm"),
    ("crm.deal", "crm"),
    ("project", "project"),
    ("task", "task"),
    ("order", "order"),
)
SYLLABLES = (
    "ka lo mer ti san pra vel do ru ne quo zan fi bel tor ga lu mi os ver "
    "cha den rik sol tam hu pen dra ix mo lan se bri cor fa gel nu pol te"
).split()
FIRST_NAMES = "Ada Grace Alan Edsger Barbara Donald Frances Ken Margaret Linus".split()
LAST_NAMES = "Lovelace Hopper Turing Dijkstra Liskov Knuth Allen Thompson Hamilton".split()
CHUNK = 20_000
ROLLUP_SLICE = 200_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The vocabulary does not depend on --seed, so a benchmark reusing a loaded tenant knows
# which words are common (the first) and which rare (the last).
VOCABULARY_SEED = 20_261_122
# Seed 004's activity fields: the share of each kind's events that are assigned tasks.
ACTIVITY_SHARE = {"call": 0.6, "meeting": 0.6, "email": 0.3}
STATUSES = ("planned", "in_progress", "completed", "cancelled")
STATUS_WEIGHTS = (2, 1, 6, 1)
PRIORITIES = ("low", "medium", "high", "urgent")
PRIORITY_WEIGHTS = (3, 5, 2, 1)


class Words:
    """A vocabulary whose word frequencies follow Zipf's law."""

    def __init__(self, rng: random.Random, size: int = 5_000) -> None:
        vocabulary: dict[str, None] = {}  # ordered, so a seed gives the same text
        while len(vocabulary) < size:
            vocabulary["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))] = None
        self.words = list(vocabulary)
        self.cum_weights = list(itertools.accumulate(1 / rank for rank in range(1, size + 1)))

    @classmethod
    def shared(cls) -> Words:
        """The vocabulary every generated tenant's events are written in."""
        return cls(random.Random(VOCABULARY_SEED))

    def text(self, rng: random.Random, shortest: int, longest: int) -> str:
        k = rng.randint(shortest, longest)
        return " ".join(rng.choices(self.words, cum_weights=self.cum_weights, k=k))


Payload = Callable[[random.Random, Words], dict[str, Any]]

# Built-in event types with data their schemas accept, weighted like a CRM timeline.
KINDS: tuple[tuple[str, int, Payload], ...] = (
    ("note", 35, lambda r, w: {"text": w.text(r, 6, 24)}),
    ("comment", 15, lambda r, w: {"text": w.text(r, 4, 16)}),
    (
        "email",
        12,
        lambda r, w: {
            "subject": w.text(r, 3, 8),
            "to": [f"user-{r.randrange(1000)}@example.com"],
            "body_preview": w.text(r, 10, 30),
        },
    ),
    (
        "call",
        8,
        lambda r, w: {
            "direction": r.choice(("inbound", "outbound")),
            "duration_seconds": r.randrange(20, 3600),
            "outcome": r.choice(("connected", "voicemail", "no answer")),
        },
    ),
    (
        "status_change",
        10,
        lambda r, w: {
            "field_name": "status",
            "from_value": r.choice(("new", "open", "qualified")),
            "to_value": r.choice(("won", "lost", "closed")),
        },
    ),
    (
        "field_updated",
        10,
        lambda r, w: {
            "field_name": r.choice(("owner", "stage", "amount", "title")),
            "old_value": w.text(r, 1, 3),
            "new_value": w.text(r, 1, 3),
        },
    ),
    (
        "file_attached",
        5,
        lambda r, w: {
            "filename": f"{w.text(r, 1, 1)}.pdf",
            "file_size": r.randrange(1_000, 5_000_000),
            "file_type": "application/pdf",
        },
    ),
    (
        "meeting",
        5,
        lambda r, w: {"title": w.text(r, 2, 6), "duration_minutes": r.choice((15, 30, 60))},
    ),
)


def _pareto_cum_weights(rng: random.Random, n: int, alpha: float) -> list[float]:
    return list(itertools.accumulate(rng.paretovariate(alpha) for _ in range(n)))


@dataclass(slots=True)
class Dataset:
    tenant_id: str
    stream_ids: list[uuid.UUID]
    user_ids: list[str]
    events: int = 0
    seconds: float = 0.0
    counts: dict[uuid.UUID, int] = field(default_factory=dict)


async def ensure_partitions(conn: asyncpg.Connection[Any], first: date, last: date) -> int:
    """Creates the monthly `events` partitions for [first, last]; COPY into a missing
    month would land in the default partition, which no real deployment fills."""
    created = await conn.fetchval(
        "SELECT tidings_ensure_partitions('events', 'occurred_at', $1, $2)",
        first.replace(day=1),
        last.replace(day=1),
    )
    return int(created or 0)


async def create_tenant(
    conn: asyncpg.Connection[Any],
    tenant_id: str,
    *,
    streams: int,
    users: int,
    since: datetime,
    rng: random.Random,
) -> Dataset:
    """The tenant, its users and one stream per host object, as the API would create them."""
    async with conn.transaction():
        taken = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM streams WHERE tenant_id = $1)", tenant_id
        )
        if taken:
            raise ValueError(f"tenant {tenant_id!r} already has streams; pick another --tenant")
        await conn.execute(
            "INSERT INTO tenants (id, name) VALUES ($1, 'benchmark') ON CONFLICT DO NOTHING",
            tenant_id,
        )
        user_ids = [f"user-{n}" for n in range(users)]
        people = [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in user_ids]
        await conn.copy_records_to_table(
            "users",
            records=[
                (tenant_id, uid, f"{uid}@example.com", first, last, f"{first} {last}")
                for uid, (first, last) in zip(user_ids, people, strict=True)
            ],
            columns=("tenant_id", "id", "email", "first_name", "last_name", "name"),
        )
        born = int(since.timestamp() * 1e9)
        rows = []
        for n in range(streams):
            object_type, stream_type = OBJECT_TYPES[n % len(OBJECT_TYPES)]
            slug = f"{object_type.replace('.', '-')}-{n}"
            creator = rng.choice(user_ids) if user_ids else None
            name = f"{object_type} {n}"
            rows.append(
                (
                    uuid7(nanoseconds=born + n),
                    tenant_id,
                    slug,
                    name,
                    stream_type,
                    object_type,
                    str(n),
                    creator,
                    since,
                    since,
                )
            )
        await conn.copy_records_to_table("streams", records=rows, columns=STREAM_COLUMNS)
    return Dataset(tenant_id, [row[0] for row in rows], user_ids)


class _EventMaker:
    """Builds rows chunk by chunk, in time order, and tallies each stream's counters."""

    def __init__(
        self, dataset: Dataset, rng: random.Random, times: Sequence[int], words: Words
    ) -> None:
        self.dataset, self.rng, self.times, self.words = dataset, rng, times, words
        self.stream_weights = _pareto_cum_weights(rng, len(dataset.stream_ids), 1.16)
        self.user_weights = _pareto_cum_weights(rng, len(dataset.user_ids), 1.5)
        self.kinds = [(BUILTIN_BY_KEY[key], payload) for key, _, payload in KINDS]
        self.kind_weights = list(itertools.accumulate(weight for _, weight, _ in KINDS))
        self.latest: dict[uuid.UUID, datetime] = {}
        # The app's rollup key (shard 0): (UTC day, type, status or '', assignee or actor
        # or '') -> events.
        self.rollup: Counter[tuple[date, str, str, str]] = Counter()

    def chunk(self, start: int) -> list[tuple[Any, ...]]:
        rng, words, ds = self.rng, self.words, self.dataset
        times = self.times[start : start + CHUNK]  # microseconds since the epoch
        streams = rng.choices(ds.stream_ids, cum_weights=self.stream_weights, k=len(times))
        kinds = rng.choices(self.kinds, cum_weights=self.kind_weights, k=len(times))
        rows = []
        for at, stream_id, (spec, payload) in zip(times, streams, kinds, strict=True):
            occurred = EPOCH + timedelta(microseconds=at)
            data = payload(rng, words)
            system = rng.random() < 0.05
            actor = None
            if not system and ds.user_ids:
                actor = rng.choices(ds.user_ids, cum_weights=self.user_weights)[0]
            importance = int(spec.default_importance)
            if rng.random() < 0.1:
                importance = rng.choice((1, 3, 4))
            assignee = status = priority = None
            if ds.user_ids and rng.random() < ACTIVITY_SHARE.get(spec.key, 0.0):
                assignee = rng.choices(ds.user_ids, cum_weights=self.user_weights)[0]
                status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
                priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
            rows.append(
                (
                    uuid7(nanoseconds=at * 1000),
                    occurred,
                    ds.tenant_id,
                    stream_id,
                    spec.key,
                    importance,
                    actor,
                    render_summary(spec.summary_template, data, spec.label),
                    words.text(rng, 10, 60) if rng.random() < 0.3 else "",
                    orjson.dumps(data).decode(),
                    system,
                    occurred + timedelta(seconds=rng.random() * 2),
                    assignee,
                    status,
                    priority,
                )
            )
            ds.counts[stream_id] = ds.counts.get(stream_id, 0) + 1
            self.latest[stream_id] = occurred
            self.rollup[occurred.date(), spec.key, status or "", assignee or actor or ""] += 1
        return rows


async def load_events(
    conn: asyncpg.Connection[Any],
    dataset: Dataset,
    *,
    events: int,
    start: datetime,
    end: datetime,
    rng: random.Random,
) -> None:
    """COPYs `events` rows into `dataset`'s streams and sets the streams' counters."""
    if events <= 0 or not dataset.stream_ids:
        return
    # Whole microseconds, so each id's timestamp is exactly its row's occurred_at.
    first, last = (int((t - EPOCH) / timedelta(microseconds=1)) for t in (start, end))
    times = sorted(rng.randrange(first, last) for _ in range(events))
    maker = _EventMaker(dataset, rng, times, Words.shared())
    started = time.perf_counter()
    # The next chunk is built in a thread while the server digests this one.
    pending = asyncio.create_task(asyncio.to_thread(maker.chunk, 0))
    for offset in range(0, events, CHUNK):
        rows = await pending
        if offset + CHUNK < events:
            pending = asyncio.create_task(asyncio.to_thread(maker.chunk, offset + CHUNK))
        await conn.copy_records_to_table("events", records=rows, columns=EVENT_COLUMNS)
    ids = list(dataset.counts)
    await conn.execute(
        """
        UPDATE streams AS s SET event_count = s.event_count + c.n,
               last_event_at = greatest(s.last_event_at, c.latest), updated_at = now()
          FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS c(id, n, latest)
         WHERE s.id = c.id
        """,
        ids,
        [dataset.counts[i] for i in ids],
        [maker.latest[i] for i in ids],
    )
    # The stats endpoint reads this rollup, which the API maintains on every insert. It has
    # nearly a key per event (per user and day), so it goes in slices.
    keys = list(maker.rollup.items())
    for at in range(0, len(keys), ROLLUP_SLICE):
        part = keys[at : at + ROLLUP_SLICE]
        days, types, statuses, users = zip(*(k for k, _ in part), strict=True)
        await conn.execute(
            """
            INSERT INTO activity_rollup AS r (tenant_id, day, event_type, status, user_id, count)
            SELECT $1, k.day, k.type, k.status, k.user_id, k.n
              FROM unnest($2::date[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                   AS k(day, type, status, user_id, n)
                ON CONFLICT ON CONSTRAINT pk_activity_rollup
                DO UPDATE SET count = r.count + EXCLUDED.count
            """,
            dataset.tenant_id,
            days,
            types,
            statuses,
            users,
            [n for _, n in part],
        )
    dataset.events += events
    dataset.seconds += time.perf_counter() - started


async def generate(
    conn: asyncpg.Connection[Any],
    *,
    tenant_id: str,
    streams: int = 200,
    users: int = 1_000,
    events: int = 100_000,
    months: int = 12,
    seed: int | None = None,
    now: datetime | None = None,
) -> Dataset:
    """A new tenant with `streams` streams, `users` users and `events` events over the
    last `months` months; the events' partitions are created first."""
    rng = random.Random(seed)
    end = now or datetime.now(UTC)
    start = end - timedelta(days=30.44 * months)
    await ensure_partitions(conn, start.date(), end.date())
    dataset = await create_tenant(
        conn, tenant_id, streams=streams, users=users, since=start - timedelta(days=1), rng=rng
    )
    await load_events(conn, dataset, events=events, start=start, end=end, rng=rng)
    if events:
        await settle(conn)
    return dataset


async def settle(conn: asyncpg.Connection[Any]) -> None:
    """What autovacuum would have done to a table loaded long ago: statistics, the
    visibility map (index-only scans) and the full-text index's pending list merged into
    its tree (every search reads the pending list, up to 4 MB per partition). Without it
    reads are measured on a state no live database stays in, and autovacuum may be off."""
    await conn.execute("VACUUM (ANALYZE) events, streams, users, activity_rollup")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset", description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--tenant", default=None, help="default: a new bench-<hex> tenant")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    if settings.database_url is None:
        parser.error("TIDINGS_DATABASE_URL is not set (or run under `tidings services --`)")
    upgrade(settings)
    tenant = args.tenant or f"bench-{secrets.token_hex(4)}"

    async def run(dsn: str) -> Dataset:
        conn = await asyncpg.connect(dsn)
        try:
            return await generate(
                conn,
                tenant_id=tenant,
                streams=args.streams,
                users=args.users,
                events=args.events,
                months=args.months,
                seed=args.seed,
            )
        finally:
            await conn.close()

    try:
        ds = asyncio.run(run(to_asyncpg_dsn(settings.database_url)))
    except ValueError as exc:
        parser.error(str(exc))
    hottest = max(ds.counts.values(), default=0)
    rate = ds.events / ds.seconds if ds.seconds else 0.0
    print(
        f"tenant {ds.tenant_id}: {len(ds.stream_ids):,} streams, {len(ds.user_ids):,} users, "
        f"{ds.events:,} events in {ds.seconds:.1f} s ({rate:,.0f} rows/s); "
        f"hottest stream {hottest:,} events"
    )


if __name__ == "__main__":
    main()
