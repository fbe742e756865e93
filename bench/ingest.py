"""Ingest throughput: Tidings over HTTP beside what PostgreSQL does with the same rows.

Measured in one run, against the database in TIDINGS_DATABASE_URL (migrated first) and a
real uvicorn server started for the run:

  single   POST /api/events/, one note per request, closed loop at --concurrency
  batch    POST /api/events/batch/, --batch-size notes per request at --batch-concurrency
  raw tx   asyncpg, --tx-connections connections: BEGIN; INSERT event; INSERT outbox;
           UPDATE the stream's counters; COMMIT (the single POST's ceiling)
  raw CTE  the same writes as one statement (what Tidings sends), autocommit
  raw COPY the batch phase's row count in one COPY into events (the batch's ceiling)

Each run uses new tenants and deletes them afterwards (--keep to keep them).
`make bench` runs it with embedded PostgreSQL and Valkey when no URLs are set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
from uuid_utils.compat import uuid7

from app.auth import mint_token
from app.schema import upgrade
from app.schemas.events import MAX_BATCH
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
from bench.dataset import Words, create_tenant

OBJECT_TYPE = "crm.deal"
SERVICE_USER = "ingest-bot"
JSON_HEADERS = {"content-type": "application/json"}

RAW_INSERT_EVENT = """
INSERT INTO events (id, occurred_at, tenant_id, stream_id, event_type, actor_id, summary, data)
VALUES ($1, $2, $3, $4, 'note', $5, $6, $7)
"""
RAW_INSERT_OUTBOX = """
INSERT INTO outbox (tenant_id, event_id, event_occurred_at, stream_id) VALUES ($3, $1, $2, $4)
"""
RAW_BUMP_STREAM = """
UPDATE streams SET event_count = event_count + 1, last_event_at = greatest(last_event_at, $2)
 WHERE id = $1
"""
RAW_CTE = """
WITH ev AS (
    INSERT INTO events (id, occurred_at, tenant_id, stream_id, event_type, actor_id, summary, data)
    VALUES ($1, $2, $3, $4, 'note', $5, $6, $7)
    RETURNING id, occurred_at, tenant_id, stream_id
), ob AS (
    INSERT INTO outbox (tenant_id, event_id, event_occurred_at, stream_id)
    SELECT tenant_id, id, occurred_at, stream_id FROM ev
)
UPDATE streams SET event_count = event_count + 1, last_event_at = greatest(last_event_at, $2)
 WHERE id = $4
"""

RAW_COLUMNS = ("id", "occurred_at", "tenant_id", "stream_id", "actor_id", "summary", "data")
RawEvent = tuple[uuid.UUID, datetime, str, uuid.UUID, str, str, str]
Send = Callable[[RawEvent], Awaitable[None]]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--requests", type=int, default=3_000, help="single POSTs (%(default)s)")
    add("--concurrency", type=int, default=16, help="single POSTs in flight (%(default)s)")
    add("--objects", type=int, default=50, help="host objects written to (%(default)s)")
    add("--batch-events", type=int, default=50_000, help="events batched, and COPYd (%(default)s)")
    add("--batch-size", type=int, default=500, help="events per batch, at most 1000 (%(default)s)")
    add("--batch-concurrency", type=int, default=2, help="batches in flight (%(default)s)")
    add("--tx", type=int, default=10_000, help="transactions per raw baseline (%(default)s)")
    add("--tx-connections", type=int, default=8, help="connections for raw tx (%(default)s)")
    add("--seed", type=int, default=None, help="seed for the generated text")
    add("--keep", action="store_true", help="keep the benchmark tenants and their rows")
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= MAX_BATCH:
        parser.error(f"--batch-size must be between 1 and {MAX_BATCH}")
    return args


class Texts:
    """Note texts from the data set's Zipf vocabulary, so the tsvector costs what real
    text costs."""

    def __init__(self, seed: int | None) -> None:
        self.rng = random.Random(seed)
        self.words = Words(self.rng)

    def __call__(self) -> str:
        return self.words.text(self.rng, 6, 24)


def _note(texts: Texts, n: int, objects: int) -> dict[str, Any]:
    return {
        "object_type": OBJECT_TYPE,
        "object_id": str(n % objects),
        "event_type": "note",
        "data": {"text": texts()},
    }


def _raw_events(texts: Texts, n: int, tenant: str, streams: Sequence[uuid.UUID]) -> list[RawEvent]:
    """What Tidings stores for a note posted now (its summary template included)."""
    rows: list[RawEvent] = []
    for i in range(n):
        text = texts()
        now = datetime.now(UTC)
        summary = f"Added note: {text}"
        data = orjson.dumps({"text": text}).decode()
        rows.append((uuid7(), now, tenant, streams[i % len(streams)], SERVICE_USER, summary, data))
    return rows


async def _post(client: httpx.AsyncClient, path: str, body: bytes) -> httpx.Response:
    response = await client.post(path, content=body, headers=JSON_HEADERS)
    if response.status_code != 201:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    return response


async def http_phases(
    args: argparse.Namespace, env: dict[str, str], token: str, texts: Texts
) -> tuple[Run, Run, int]:
    """Single and batch ingest through the API; returns the runs and the events sent."""
    singles = [orjson.dumps(_note(texts, n, args.objects)) for n in range(args.requests)]
    notes = [_note(texts, n, args.objects) for n in range(args.batch_events)]
    size = args.batch_size
    batches = [orjson.dumps({"events": notes[i : i + size]}) for i in range(0, len(notes), size)]
    # Not measured: creates the objects' streams and the service user, and lets SQLAlchemy
    # compile and asyncpg prepare each statement once.
    warm_single = [orjson.dumps(_note(texts, n, args.objects)) for n in range(args.objects)]
    warm_batch = orjson.dumps({"events": notes[:size]})
    sent = len(warm_single) + args.batch_size

    async def single(body: bytes) -> None:
        await _post(client, "/api/events/", body)

    async def batch(body: bytes) -> None:
        created = orjson.loads((await _post(client, "/api/events/batch/", body)).content)
        if created["created"] != created["count"]:
            raise RuntimeError(f"a batch replayed events: {created['replayed']}")

    limits = httpx.Limits(max_connections=max(args.concurrency, args.batch_concurrency))
    async with (
        api_server(env) as server,
        httpx.AsyncClient(
            base_url=server.base_url,
            headers={"authorization": f"Bearer {token}"},
            limits=limits,
            timeout=120,
        ) as client,
    ):
        await drive(warm_single, [single] * args.concurrency)
        await batch(warm_batch)
        single_run = await drive(singles, [single] * args.concurrency, server_pid=server.pid)
        report("single POST", single_run, "ev")
        batch_run = await drive(batches, [batch] * args.batch_concurrency, server_pid=server.pid)
        batch_run.count = args.batch_events
        report("batch POST", batch_run, "ev", per="batch")
    return single_run, batch_run, sent + args.requests + args.batch_events


async def raw_phases(
    args: argparse.Namespace, dsn: str, conn: asyncpg.Connection[Any], tenant: str, texts: Texts
) -> tuple[Run, Run, Run]:
    """The same writes without Tidings, into a tenant of their own."""
    ds = await create_tenant(
        conn, tenant, streams=args.objects, users=0, since=datetime.now(UTC), rng=texts.rng
    )
    streams = ds.stream_ids
    rows = [(*r, "note") for r in _raw_events(texts, args.batch_events, tenant, streams)]

    async def copy(records: list[tuple[Any, ...]]) -> None:
        await conn.copy_records_to_table(
            "events", records=records, columns=(*RAW_COLUMNS, "event_type")
        )

    copied = await drive([rows], [copy])
    copy_run = Run(len(rows), copied.seconds, cpu=copied.cpu)
    report("raw COPY", copy_run, "rows")

    conns = [await asyncpg.connect(dsn) for _ in range(args.tx_connections)]
    try:
        tx_run = await drive(
            _raw_events(texts, args.tx, tenant, streams), [_transaction(c) for c in conns]
        )
        report("raw tx", tx_run, "tx")
        cte_run = await drive(
            _raw_events(texts, args.tx, tenant, streams), [_statement(c) for c in conns]
        )
        report("raw CTE tx", cte_run, "tx")
    finally:
        for c in conns:
            await c.close()
    return copy_run, tx_run, cte_run


def _transaction(conn: asyncpg.Connection[Any]) -> Send:
    async def send(row: RawEvent) -> None:
        async with conn.transaction():
            await conn.execute(RAW_INSERT_EVENT, *row)
            await conn.execute(RAW_INSERT_OUTBOX, *row[:4])
            await conn.execute(RAW_BUMP_STREAM, row[3], row[1])

    return send


def _statement(conn: asyncpg.Connection[Any]) -> Send:
    async def send(row: RawEvent) -> None:
        await conn.execute(RAW_CTE, *row)

    return send


def report(name: str, run: Run, unit: str, per: str = "request") -> None:
    line = f"{name:<12} {run.count:>7,} {unit} in {run.seconds:5.1f} s: {fmt(run.rate)} {unit}/s"
    if len(run.latencies) > 1:
        ms = run.ms()
        line += f"; {per} p50 {fmt(ms['p50'])} p95 {fmt(ms['p95'])} p99 {fmt(ms['p99'])} ms"
    print(line, flush=True)
    if run.cpu is not None:
        print(f"{'':13}{run.cpu.describe(run.count, unit)}", flush=True)


def _cpu(run: Run) -> dict[str, float]:
    return {} if run.cpu is None else run.cpu.per(run.count)


async def check(conn: asyncpg.Connection[Any], tenant: str, expected: int) -> None:
    """Every accepted event is stored once, with its outbox row and counted on its stream."""
    events, outbox, counted = await conn.fetchval(
        """
        SELECT ARRAY[(SELECT count(*) FROM events WHERE tenant_id = $1),
                     (SELECT count(*) FROM outbox WHERE tenant_id = $1),
                     (SELECT sum(event_count)::bigint FROM streams WHERE tenant_id = $1)]
        """,
        tenant,
    )
    if not events == outbox == counted == expected:
        raise RuntimeError(
            f"expected {expected} events: found {events} events, {outbox} outbox rows, "
            f"{counted} counted on streams"
        )
    print(f"checked      {expected:,} events stored, each with its outbox row and counted")


async def drop_tenants(conn: asyncpg.Connection[Any], tenants: list[str]) -> None:
    # Events go first by tenant: the cascade from streams would look for each stream's
    # events with no index leading on stream_id. Outbox and rollup rows have no foreign key.
    async with conn.transaction():
        for table in ("outbox", "activity_rollup", "events"):
            await conn.execute(f"DELETE FROM {table} WHERE tenant_id = ANY($1)", tenants)
        await conn.execute("DELETE FROM tenants WHERE id = ANY($1)", tenants)


async def run(args: argparse.Namespace, settings: Settings, code: str) -> dict[str, Any]:
    assert settings.database_url is not None
    dsn = to_asyncpg_dsn(settings.database_url)
    tenant = f"bench-{secrets.token_hex(4)}"
    token = mint_token(settings, tenant_id=tenant, user_id=SERVICE_USER, roles=["service"])
    texts = Texts(args.seed)
    conn = await asyncpg.connect(dsn)
    try:
        pg = await conn.fetchrow(
            "SELECT current_setting('server_version') AS version,"
            " current_setting('synchronous_commit') AS sync,"
            " current_setting('shared_buffers') AS buffers"
        )
        assert pg is not None
        print(
            f"tidings ingest benchmark: {CORES} cores, PostgreSQL {pg['version']} "
            f"(synchronous_commit={pg['sync']}, shared_buffers={pg['buffers']}), "
            f"code {code}, tenant {tenant}"
        )
        if (busy := await busy_cores()) > 0.2:
            print(f"warning: {busy:.1f} cores were busy before the run; expect noisy figures")
        single, batch, sent = await http_phases(args, dict(os.environ), token, texts)
        await check(conn, tenant, sent)
        copy, tx, cte = await raw_phases(args, dsn, conn, f"{tenant}-raw", texts)
    finally:
        if not args.keep:
            started = time.perf_counter()
            await drop_tenants(conn, [tenant, f"{tenant}-raw"])
            print(f"cleaned up   in {time.perf_counter() - started:.1f} s")
        await conn.close()
    phases = {"single": single, "batch": batch, "raw_copy": copy, "raw_tx": tx, "raw_cte": cte}
    print()
    print_table(table(args, phases))
    return {
        **{f"{name}_per_s": r.rate for name, r in phases.items()},
        **{
            f"{name}_{p}_ms": v
            for name, r in phases.items()
            if r.latencies
            for p, v in r.ms().items()
        },
        "single_vs_raw_tx": single.rate / tx.rate,
        "single_vs_raw_cte": single.rate / cte.rate,
        "batch_vs_raw_copy": batch.rate / copy.rate,
        # CPU ms per event, row or tx (client, server, db+other): where the time goes.
        **{f"{name}_cpu_ms_{k}": v for name, r in phases.items() for k, v in _cpu(r).items()},
        "cores": CORES,
        "postgres": pg["version"],
        "code": code,
    }


def table(args: argparse.Namespace, phases: dict[str, Run]) -> list[Row]:
    single, batch, tx = phases["single"], phases["batch"], phases["raw_tx"]
    s_ms, t_ms, b_ms = single.ms(), tx.ms(), batch.ms()
    return [
        Row(
            f"single POST /api/events/ (c={args.concurrency})",
            single.rate,
            "ev/s",
            f"raw tx ({args.tx_connections} conns)",
            tx.rate,
            "tx/s",
        ),
        *(
            Row(f"  single latency {p}", s_ms[p], "ms", f"raw tx {p}", t_ms[p])
            for p in ("p50", "p95", "p99")
        ),
        Row(
            "single POST vs 1-statement tx",
            single.rate,
            "ev/s",
            "raw CTE tx",
            phases["raw_cte"].rate,
            "tx/s",
        ),
        Row(
            f"batch POST /api/events/batch/ ({args.batch_size} x c={args.batch_concurrency})",
            batch.rate,
            "ev/s",
            "raw COPY",
            phases["raw_copy"].rate,
            "rows/s",
        ),
        Row("  batch latency p50", b_ms["p50"], "ms"),
        Row("  batch latency p99", b_ms["p99"], "ms"),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = bench_settings("bench")
    upgrade(settings)
    figures = asyncio.run(run(args, settings, code_version()))
    print_figures(figures)


if __name__ == "__main__":
    main()
