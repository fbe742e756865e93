"""WebSocket broadcast (issue 6): N sockets on one API process watching one stream, beside
the same message sent straight through Redis pub/sub.

Measured in one run, against the database and Redis in TIDINGS_DATABASE_URL and
TIDINGS_REDIS_URL (migrated first), with a real uvicorn server (one process, WebSocket
compression off: bench.common.api_server) and a tenant made for the run (deleted after it
unless --keep), holding one stream:

  connect    --sockets N (each size in turn: 1,000 then 5,000) sockets to
             /ws/streams/{slug}/ (token as the `bearer.<token>` subprotocol), opened
             --batch at a time; a socket counts once its `connection_established` frame
             is in. Timed: the whole connect (handshakes/s) and each handshake. The
             sockets belong to --users users, 1 by default: each further user's first
             socket sends `user_joined` to every socket already there, so one user per
             socket makes N^2/2 frames while connecting (500,000 at 1,000 sockets, 12.5
             million at 5,000) and as many `user_left` while closing
  memory     the server's RSS (/proc/<pid>/status) before connecting and with N held
  broadcast  notes posted at a steady --rate (per size: 20/s at 1,000, 4/s at 5,000)
             from this process (POST /api/streams/{slug}/add_event/ over --posters
             keep-alive connections, each event's `data.text` a unique marker): --warmup
             seconds unmeasured, then --seconds measured. A delivery is one (socket,
             event); its latency runs from just before the POST's request is written to
             the moment the socket's reader task has the frame (this process's clock; the
             frame may come in before the POST's response, so the marker in the frame,
             not the returned id, names the event). Reported: p50/p95/p99 over every
             delivery of the measured events, the first and the last socket's latency per
             event (the pipeline, and the pipeline plus the fan-out), the POST's own
             latency, deliveries/s beside the offered rate (sockets x rate), and CPU per
             delivery (this client, the server process, everything else) from the first
             measured POST until the last of its deliveries; and when the server's
             heartbeat (a `ping` to every socket at once, every 25 s) fell in the window:
             a window with one has a longer tail
  complete   after the window, up to --drain seconds for stragglers; then every socket
             must have received every posted event (warm-up included) exactly once:
             frames lost and duplicated are counted, and sockets the server closed
  baseline   with the sockets closed, as many messages as the measured window posted, at
             the same rate, PUBLISHed with redis.asyncio (the frame's envelope as the hub
             receives it, of the same size) to ONE pub/sub listener in this process:
             publish -> receive latency, p50/p95/p99

The client is built to cost little per frame, or it would measure itself (it shares the
two cores with the server, PostgreSQL and Redis): the `websockets` asyncio client on
uvloop (--loop), compression and client pings off, one reader task per socket that
stamps the time, slices the marker out of the frame's text and appends to its socket's
lists (answering the server's `ping` frames with `pong`); statistics come at the end.
Its garbage collector is off while a size runs (a full collection over thousands of
connections stalls it for 0.3-0.7 s), and its own event loop lag during the window is
reported (a timer every 10 ms): large lags mean the client, not the server, was late.
It still costs about as much CPU per frame as the server. RLIMIT_NOFILE is raised to its
hard limit first (the server inherits it).

Targets: 5,000 sockets held in one process; delivery p99 under 100 ms at 1,000 watchers;
no frame lost or duplicated. `make bench-ws` runs it with embedded PostgreSQL and Valkey
when no URLs are set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from app.auth import mint_token
from app.schema import upgrade
from app.services.live import envelope
from app.settings import Settings, to_asyncpg_dsn
from bench.common import (
    CORES,
    CpuMeter,
    CpuUse,
    KeepAliveClient,
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
from bench.ingest import drop_tenants

SERVICE_USER = "ws-bench-bot"
SLUG = "ws-bench"
MARK = "wsbench-"  # data.text of event n is MARK + n: found in the frame by a slice
PING = '{"type":"ping"'
PONG = '{"type":"pong"}'
P99_TARGET_MS = 100.0
HELD_TARGET = 5_000
HANDSHAKE_TIMEOUT = 60.0
BASELINE_WARMUP = 20  # unmeasured PUBLISHes first
OTHER_BUSY = 0.4  # cores busy outside the client and server during a window: noisy


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ws",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--sockets", default="1000,5000", help="sockets per run, in turn (%(default)s)")
    add("--rate", default="20,4", help="events/s for each --sockets size, or one (%(default)s)")
    add("--seconds", type=float, default=10.0, help="measured window per size (%(default)s)")
    add("--warmup", type=float, default=3.0, help="unmeasured events first, s (%(default)s)")
    add("--drain", type=float, default=5.0, help="wait for stragglers, s (%(default)s)")
    add("--batch", type=int, default=200, help="handshakes in flight (%(default)s)")
    add("--users", type=int, default=1, help="distinct users among the sockets (%(default)s)")
    add("--posters", type=int, default=4, help="keep-alive POST connections (%(default)s)")
    add("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="client event loop")
    add("--keep", action="store_true", help="keep the benchmark tenant and its rows")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sockets.split(",") if s.strip()]
        rates = [float(r) for r in args.rate.split(",") if r.strip()]
    except ValueError:
        parser.error("--sockets and --rate take comma-separated numbers")
    if len(rates) == 1:
        rates *= len(args.sizes)
    if not args.sizes or len(rates) != len(args.sizes):
        parser.error("give one --rate, or one per --sockets size")
    if min(args.sizes) < 1 or min(rates) <= 0 or args.seconds <= 0 or args.users < 1:
        parser.error("sizes, rates, --seconds and --users must be positive")
    args.rates = rates
    return args


# --- the client's pieces -----------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """Shared by the reader tasks: event frames in, and whether closes are ours."""

    received: int = 0
    expected: int = -1  # `done` is set when `received` reaches it
    done: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False
    sample: str = ""  # one event frame as received (the baseline's payload)
    pings: list[float] = field(default_factory=list)  # when `ping` frames came in


@dataclass(slots=True)
class Watcher:
    ws: ClientConnection
    handshake: float
    seqs: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    other: Counter[str] = field(default_factory=Counter)  # frames that are not our events
    closed: str | None = None  # why the server ended the socket early


async def read(w: Watcher, tally: Tally) -> None:
    """The per-socket reader: stamp, slice out the marker, append. Nothing else."""
    seqs, times, clock, ws = w.seqs.append, w.times.append, time.perf_counter, w.ws
    start = len(MARK)
    try:
        async for message in ws:
            now = clock()
            if isinstance(message, bytes):
                w.other["binary"] += 1
                continue
            at = message.find(MARK)
            if at >= 0:
                at += start
                seqs(int(message[at : message.index('"', at)]))
                times(now)
                tally.received += 1
                if tally.received == tally.expected:
                    tally.done.set()
                if not tally.sample:
                    tally.sample = message
            elif message.startswith(PING):
                tally.pings.append(now)
                await ws.send(PONG)
            else:
                w.other[_frame_type(message)] += 1
    except ConnectionClosed:
        pass
    if not tally.stopping:
        w.closed = f"{ws.close_code} {ws.close_reason or ''}".strip()


def _frame_type(message: str) -> str:
    try:
        return str(orjson.loads(message).get("type"))
    except (orjson.JSONDecodeError, AttributeError):
        return "unparsable"


async def open_socket(url: str, token: str) -> tuple[ClientConnection, float]:
    started = time.perf_counter()
    ws = await connect(
        url,
        subprotocols=[Subprotocol("tidings.v1"), Subprotocol(f"bearer.{token}")],
        compression=None,
        proxy=None,
        ping_interval=None,  # the server pings (frames and protocol); the client need not
        open_timeout=HANDSHAKE_TIMEOUT,
        close_timeout=5,
    )
    try:
        first = await asyncio.wait_for(ws.recv(), HANDSHAKE_TIMEOUT)
        if not isinstance(first, str) or _frame_type(first) != "connection_established":
            raise RuntimeError(f"first frame: {first[:200]!r}")
    except BaseException:
        await ws.close()
        raise
    return ws, time.perf_counter() - started


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def ms(samples: Sequence[float]) -> dict[str, float]:
    return {k: v * 1000 for k, v in percentiles(samples).items()}


def ms_sorted(samples: list[float]) -> dict[str, float]:
    samples.sort()  # large lists: quantiles sorts a copy anyway
    return ms(samples)


def heartbeats(pings: list[float], start: float) -> list[float]:
    """When the server's heartbeats (a `ping` to every socket at once) came, in seconds
    from `start`: one a second at most."""
    found: list[float] = []
    for at in sorted(pings):
        if not found or at - start - found[-1] > 1.0:
            found.append(at - start)
    return found


async def loop_lag(lags: list[float], every: float = 0.01) -> None:
    """This process's event loop lag (how late a timer fires): the client's self-check."""
    clock = time.perf_counter
    while True:
        due = clock() + every
        await asyncio.sleep(every)
        lags.append(clock() - due)


async def paced(count: int, rate: float, send: Callable[[int], Coroutine[Any, Any, None]]) -> float:
    """Starts send(0..count-1) at a steady rate (open loop); the seconds it took."""
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for k in range(count):
        delay = start + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(k)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start


# --- one size --------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    sockets: int
    rate: float
    held: int = 0
    connect_seconds: float = 0.0
    handshakes: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    rss_before: float = 0.0  # before connecting (after any earlier size)
    rss_held: float = 0.0
    client_rss: float = 0.0
    posted: int = 0
    measured: int = 0
    post_rate: float = 0.0
    post_latencies: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    after_post: list[float] = field(default_factory=list)  # receipt - the POST's response
    first: list[float] = field(default_factory=list)  # per event, the first socket's
    last: list[float] = field(default_factory=list)  # per event, the last socket's
    window: float = 0.0  # the measured window's seconds
    delivered: int = 0  # distinct (socket, event) of every posted event
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    stray: int = 0  # frames of events not posted in this size's run
    closed: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)
    cpu: CpuUse | None = None
    drained: float = 0.0  # seconds after the last measured POST until all were in
    close_seconds: float = 0.0
    client_lag: list[float] = field(default_factory=list)
    heartbeats: list[float] = field(default_factory=list)  # s into the window
    sample: str = ""
    baseline: list[float] = field(default_factory=list)

    @property
    def deliveries_per_s(self) -> float:
        return self.held * self.measured / self.window if self.window else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, settings: Settings, base_url: str, pid: int):
        self.args = args
        self.settings = settings
        self.pid = pid
        self.base_url = base_url
        self.ws_url = base_url.replace("http://", "ws://", 1) + f"/ws/streams/{SLUG}/"
        self.tenant = f"bench-ws-{secrets.token_hex(4)}"
        token = mint_token(settings, tenant_id=self.tenant, user_id=SERVICE_USER, roles=["service"])
        self.auth = {"Authorization": f"Bearer {token}"}
        self.watcher_tokens = [
            mint_token(settings, tenant_id=self.tenant, user_id=f"watcher-{u:05d}")
            for u in range(args.users)
        ]
        self.next_seq = 0

    async def create_stream(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, headers=self.auth) as client:
            reply = await client.post(
                "/api/streams/", json={"name": "WebSocket benchmark", "slug": SLUG}
            )
            if reply.status_code != 201:
                raise RuntimeError(f"POST /api/streams/: {reply.status_code} {reply.text[:300]}")

    async def connect_all(self, result: Result, tally: Tally) -> list[tuple[Watcher, Any]]:
        n, batch = result.sockets, self.args.batch
        held: list[tuple[Watcher, Any]] = []
        started = time.perf_counter()
        for first in range(0, n, batch):
            users = self.watcher_tokens
            tokens = [users[i % len(users)] for i in range(first, min(n, first + batch))]
            opened = await asyncio.gather(
                *(open_socket(self.ws_url, t) for t in tokens), return_exceptions=True
            )
            for outcome in opened:
                if isinstance(outcome, BaseException):
                    result.failures[f"{type(outcome).__name__}: {outcome}"[:160]] += 1
                    continue
                ws, seconds = outcome
                w = Watcher(ws, seconds)
                held.append((w, asyncio.create_task(read(w, tally))))
                result.handshakes.append(seconds)
        result.connect_seconds = time.perf_counter() - started
        result.held = len(held)
        return held

    async def post_events(
        self, count: int, rate: float, sent: dict[int, float], answered: dict[int, float]
    ) -> float:
        """Posts `count` notes at `rate`: the times each request was written and its
        response read, by marker number; the seconds it took."""
        path = f"/api/streams/{SLUG}/add_event/"
        first = self.next_seq
        self.next_seq += count
        bodies = [
            orjson.dumps({"event_type": "note", "data": {"text": f"{MARK}{first + k}"}})
            for k in range(count)
        ]
        pool: asyncio.Queue[KeepAliveClient] = asyncio.Queue()
        posters = [KeepAliveClient(self.base_url) for _ in range(self.args.posters)]
        for p in posters:
            pool.put_nowait(p)

        async def send(k: int) -> None:
            client = await pool.get()
            try:
                t0 = time.perf_counter()
                sent[first + k] = t0
                status, body = await client.post(path, bodies[k], self.auth)
                answered[first + k] = time.perf_counter()
            finally:
                pool.put_nowait(client)
            if status != 201:
                raise RuntimeError(f"POST {path}: {status} {body[:300]!r}")

        try:
            return await paced(count, rate, send)
        finally:
            for p in posters:
                await p.close()

    async def measure(self, sockets: int, rate: float) -> Result:
        """One size, with this process's garbage collector off: a full collection over
        thousands of connections' objects stalls the client for 0.3-0.7 s (so measured
        as the server's latency)."""
        gc.collect()
        gc.disable()
        try:
            return await self._measure(sockets, rate)
        finally:
            gc.enable()
            gc.collect()

    async def _measure(self, sockets: int, rate: float) -> Result:
        args = self.args
        result = Result(sockets, rate)
        tally = Tally()
        result.rss_before = rss_mb(self.pid)
        print(f"\n{sockets:,} sockets, {rate:g} events/s:", flush=True)
        held = await self.connect_all(result, tally)
        hs = ms(result.handshakes)
        print(
            f"  connected {result.held:,} of {sockets:,} in {result.connect_seconds:.1f} s "
            f"({result.held / result.connect_seconds:,.0f} handshakes/s; handshake p50 "
            f"{fmt(hs['p50'])} p99 {fmt(hs['p99'])} ms)",
            flush=True,
        )
        for failure, count in result.failures.most_common(5):
            print(f"  FAILED {count:,} x {failure}")
        watchers = [w for w, _ in held]
        try:
            await asyncio.sleep(1.0)  # the joins' presence frames settle
            result.rss_held = rss_mb(self.pid)
            result.client_rss = rss_mb(os.getpid())
            sent: dict[int, float] = {}
            answered: dict[int, float] = {}
            warm = max(1, round(rate * args.warmup))
            await self.post_events(warm, rate, sent, answered)
            result.measured = max(2, round(rate * args.seconds))
            first_measured = self.next_seq
            result.posted = warm + result.measured
            expected_all = result.held * result.posted
            tally.expected = expected_all
            if tally.received >= expected_all:
                tally.done.set()
            meter = CpuMeter(self.pid)
            lag = asyncio.create_task(loop_lag(result.client_lag))
            seconds = await self.post_events(result.measured, rate, sent, answered)
            result.post_rate = (result.measured - 1) / seconds if seconds else 0.0
            done_posting = time.perf_counter()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tally.done.wait(), args.drain)
            result.cpu = meter.stop()
            lag.cancel()
            result.drained = time.perf_counter() - done_posting
            if tally.received < expected_all:
                result.drained = float("nan")
            result.sample = tally.sample
            result.heartbeats = heartbeats(tally.pings, sent[first_measured])
            self.tally_up(result, watchers, sent, answered, first_measured)
        finally:
            tally.stopping = True
            started = time.perf_counter()
            for i in range(0, len(held), args.batch):
                await asyncio.gather(
                    *(w.ws.close() for w, _ in held[i : i + args.batch]), return_exceptions=True
                )
            await asyncio.gather(*(t for _, t in held), return_exceptions=True)
            result.close_seconds = time.perf_counter() - started
        return result

    def tally_up(
        self,
        result: Result,
        watchers: list[Watcher],
        sent: dict[int, float],
        answered: dict[int, float],
        first: int,
    ) -> None:
        posted = set(sent)
        last_seq = max(sent)
        result.post_latencies = [answered[s] - sent[s] for s in range(first, last_seq + 1)]
        first_at: dict[int, float] = {}
        last_at: dict[int, float] = {}
        end = 0.0
        for w in watchers:
            got = set(w.seqs)
            result.delivered += len(got & posted)
            result.lost += len(posted - got)
            result.duplicated += len(w.seqs) - len(got)
            result.stray += len(got - posted)
            result.other.update(w.other)
            if w.closed is not None:
                result.closed[w.closed] += 1
            for seq, at in zip(w.seqs, w.times, strict=True):
                if first <= seq <= last_seq:
                    result.latencies.append(at - sent[seq])
                    result.after_post.append(at - answered[seq])
                    if at < first_at.get(seq, float("inf")):
                        first_at[seq] = at
                    if at > last_at.get(seq, 0.0):
                        last_at[seq] = at
                    end = max(end, at)
        result.expected = len(watchers) * len(posted)
        result.first = [first_at[s] - sent[s] for s in first_at]
        result.last = [last_at[s] - sent[s] for s in last_at]
        # From the first measured POST to the last delivery, plus the last event's own
        # interval: at a server that keeps up, n events take n intervals (and a latency).
        result.window = end - sent[first] + 1 / result.rate if end else 0.0

    async def redis_baseline(self, result: Result) -> None:
        """The measured window's messages, at its rate, PUBLISHed to one listener."""
        assert self.settings.redis_url is not None
        count = result.measured
        # A frame as the sockets got it (else one of a similar size), renumbered per message.
        sample = result.sample or orjson.dumps({"text": f"{MARK}0", "pad": "x" * 900}).decode()
        at = sample.find(MARK)
        mark = sample[at : sample.index('"', at)]
        channel = f"tidings:{self.tenant}:stream:baseline"

        def payload(n: int) -> bytes:
            return envelope(
                {"k": "event", "e": f"baseline-{n}"}, sample.replace(mark, f"{MARK}{n}")
            )

        total = BASELINE_WARMUP + count
        payloads = [payload(n) for n in range(total)]
        got: dict[int, float] = {}
        sent: dict[int, float] = {}
        listener = Redis.from_url(self.settings.redis_url)
        publisher = Redis.from_url(self.settings.redis_url)
        pubsub = listener.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        token = MARK.encode()

        async def listen() -> None:
            clock = time.perf_counter
            async for message in pubsub.listen():
                now = clock()
                if message.get("type") != "message":
                    continue
                data: bytes = message["data"]
                at = data.find(token) + len(token)
                got[int(data[at : data.index(b'"', at)])] = now
                if len(got) == total:
                    return

        task = asyncio.create_task(listen())
        try:
            await publisher.ping()

            async def publish(n: int) -> None:
                sent[n] = time.perf_counter()
                await publisher.publish(channel, payloads[n])

            for n in range(BASELINE_WARMUP):
                await publish(n)

            async def measured(k: int) -> None:
                await publish(BASELINE_WARMUP + k)

            await paced(count, result.rate, measured)
            await asyncio.wait_for(task, 10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await pubsub.aclose()
            await listener.aclose()
            await publisher.aclose()
        result.baseline = [got[n] - sent[n] for n in range(BASELINE_WARMUP, total) if n in got]


# --- report ----------------------------------------------------------------------------


def report(r: Result) -> None:
    if not r.latencies:
        print("  no deliveries measured")
        return
    d = ms_sorted(r.latencies)
    b = ms(r.baseline)
    last = ms(r.last)
    print(
        f"  posted {r.posted:,} events ({r.measured:,} measured at {r.post_rate:.1f}/s); "
        f"{r.delivered:,} of {r.expected:,} deliveries, {r.lost:,} lost, "
        f"{r.duplicated:,} duplicated; all in {r.drained:.2f} s after the last POST"
    )
    print(
        f"  delivery p50 {fmt(d['p50'])} p95 {fmt(d['p95'])} p99 {fmt(d['p99'])} ms "
        f"(last socket p50 {fmt(last['p50'])} p99 {fmt(last['p99'])} ms); "
        f"{r.deliveries_per_s:,.0f} deliveries/s; "
        f"redis pub/sub p50 {b['p50']:.2f} p99 {b['p99']:.2f} ms"
    )
    after = ms_sorted(r.after_post)
    early = sum(x < 0 for x in r.after_post) / len(r.after_post)
    post = ms(r.post_latencies)
    print(
        f"  POST p50 {fmt(post['p50'])} p99 {fmt(post['p99'])} ms; receipt after the POST's "
        f"response p50 {fmt(after['p50'])} p99 {fmt(after['p99'])} ms "
        f"({early:.0%} of deliveries came before the response)"
    )
    if r.stray:
        print(f"  STRAY: {r.stray:,} frames of events not posted in this run")
    beats = in_window(r)
    if beats:
        print(
            "  the server's heartbeat (a ping to every socket) came "
            + ", ".join(f"{b:.1f}" for b in beats)
            + " s into the measured window (its tail shows there)"
        )
    lag = ms_sorted(r.client_lag)
    print(
        f"  client loop lag p50 {fmt(lag['p50'])} p99 {fmt(lag['p99'])} "
        f"max {fmt(max(r.client_lag, default=0) * 1000)} ms (the client's own delay)"
    )
    if r.cpu is not None:
        count = r.held * r.measured
        print(f"  {r.cpu.describe(count, 'delivery')}")
        print(
            f"  busy: client {r.cpu.client / r.cpu.wall:.2f}, server "
            f"{r.cpu.server / r.cpu.wall:.2f}, db+other {r.cpu.other / r.cpu.wall:.2f} cores"
        )
        if r.cpu.other / r.cpu.wall > OTHER_BUSY:
            print(
                f"  warning: {r.cpu.other / r.cpu.wall:.1f} cores went to processes other than "
                f"this client and the server (PostgreSQL and Redis take ~0.1 here): "
                f"something else ran, expect noisy figures"
            )
    print(
        f"  server RSS {r.rss_before:.0f} MB before connecting, {r.rss_held:.0f} MB with "
        f"{r.held:,} sockets ({kb_per_socket(r):.0f} KB each); client RSS {r.client_rss:.0f} MB; "
        f"closed all in {r.close_seconds:.1f} s"
    )
    if r.other:
        print("  other frames: " + ", ".join(f"{k} {v:,}" for k, v in r.other.most_common()))
    for why, count in r.closed.most_common(5):
        print(f"  CLOSED BY THE SERVER: {count:,} sockets ({why})")
    sys.stdout.flush()


def in_window(r: Result) -> list[float]:
    return [b for b in r.heartbeats if 0 < b <= r.window]


def kb_per_socket(r: Result) -> float:
    return (r.rss_held - r.rss_before) * 1024 / r.held if r.held else float("nan")


def table(results: list[Result]) -> list[Row]:
    rows: list[Row] = []
    for r in results:
        if not r.latencies:
            continue
        d, b = ms(r.latencies), ms(r.baseline)
        first, last, post = ms(r.first), ms(r.last), ms(r.post_latencies)
        after = ms(r.after_post)
        per = r.cpu.per(r.held * r.measured) if r.cpu else {}
        label = f"{r.held:,} sockets @ {r.rate:g} ev/s"
        rows += [
            Row(f"{label}: delivery p50", d["p50"], "ms", "redis pub/sub p50", b["p50"]),
            Row("  delivery p95", d["p95"], "ms", "redis pub/sub p95", b["p95"]),
            Row(
                f"  delivery p99 (target {P99_TARGET_MS:g} at 1,000)",
                d["p99"],
                "ms",
                "redis pub/sub p99",
                b["p99"],
            ),
            Row("  first socket per event p50", first["p50"], "ms", "redis p50", b["p50"]),
            Row("  last socket per event p50", last["p50"], "ms"),
            Row("  last socket per event p99", last["p99"], "ms"),
            Row("  POST add_event/ p50 (its response)", post["p50"], "ms"),
            Row("  POST add_event/ p99", post["p99"], "ms"),
            Row("  receipt after the POST's response p50", after["p50"], "ms"),
            Row("  receipt after the POST's response p99", after["p99"], "ms"),
            Row(
                f"  deliveries (n={r.held * r.measured:,})",
                r.deliveries_per_s,
                "/s",
                "offered",
                r.held * r.rate,
            ),
            Row("  delivered, all events", r.delivered, "frames", "expected", r.expected),
            Row(
                f"  connect {r.held:,} sockets ({r.connect_seconds:.1f} s)",
                r.held / r.connect_seconds if r.connect_seconds else 0.0,
                "handshakes/s",
            ),
            Row(f"  server RSS, {r.held:,} held", r.rss_held, "MB", "before", r.rss_before),
            Row("  server RSS per socket", kb_per_socket(r), "KB"),
        ]
        if per:
            rows += [
                Row("  server CPU per delivery", per["server"] * 1000, "µs"),
                Row("  client CPU per delivery", per["client"] * 1000, "µs"),
            ]
    return rows


def verdicts(results: list[Result]) -> None:
    print()
    largest = max(results, key=lambda r: r.sockets)
    if largest.sockets >= HELD_TARGET:
        ok = largest.held >= HELD_TARGET and not largest.closed and largest.lost == 0
        print(
            f"{HELD_TARGET:,} sockets held in one process: {'met' if ok else 'MISSED'} "
            f"({largest.held:,} connected, {sum(largest.closed.values()):,} closed early)"
        )
    else:
        print(f"{HELD_TARGET:,} sockets held in one process: not measured (--sockets)")
    for r in results:
        if not r.latencies:
            print(f"{r.sockets:,} sockets: no deliveries measured: MISSED")
            continue
        p99 = ms(r.latencies)["p99"]
        where = "target" if r.sockets <= 1_000 else "the target is at 1,000"
        verdict = "meets" if p99 < P99_TARGET_MS else "MISSES"
        print(
            f"{r.held:,} sockets @ {r.rate:g} ev/s: delivery p99 {fmt(p99)} ms {verdict} "
            f"{P99_TARGET_MS:g} ms ({where})"
        )
        clean = not (r.lost or r.duplicated or r.stray) and r.delivered == r.expected
        print(
            f"{r.held:,} sockets: every socket got every event exactly once: "
            f"{'met' if clean else 'MISSED'} ({r.lost:,} lost, {r.duplicated:,} duplicated)"
        )


def figures(results: list[Result]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in results:
        k = f"ws_{r.sockets}"
        out[f"{k}_held"] = r.held
        out[f"{k}_rate"] = r.rate
        if r.latencies:
            out.update({f"{k}_{p}_ms": v for p, v in ms(r.latencies).items()})
            out.update({f"{k}_first_{p}_ms": v for p, v in ms(r.first).items()})
            out.update({f"{k}_last_{p}_ms": v for p, v in ms(r.last).items()})
            out.update({f"{k}_post_{p}_ms": v for p, v in ms(r.post_latencies).items()})
            out.update({f"{k}_after_post_{p}_ms": v for p, v in ms(r.after_post).items()})
            out.update({f"{k}_client_lag_{p}_ms": v for p, v in ms(r.client_lag).items()})
            out[f"{k}_client_lag_max_ms"] = max(r.client_lag, default=0.0) * 1000
        if r.baseline:
            b = ms(r.baseline)
            out.update({f"{k}_redis_{p}_ms": v for p, v in b.items()})
            if r.latencies:
                out[f"{k}_p99_vs_redis"] = ms(r.latencies)["p99"] / b["p99"]
        out[f"{k}_deliveries_per_s"] = r.deliveries_per_s
        out[f"{k}_offered_per_s"] = r.held * r.rate
        out[f"{k}_delivered"] = r.delivered
        out[f"{k}_expected"] = r.expected
        out[f"{k}_lost"] = r.lost
        out[f"{k}_duplicated"] = r.duplicated
        out[f"{k}_stray"] = r.stray
        out[f"{k}_closed_early"] = sum(r.closed.values())
        out[f"{k}_connect_failures"] = sum(r.failures.values())
        out[f"{k}_connect_s"] = r.connect_seconds
        out[f"{k}_handshakes_per_s"] = r.held / r.connect_seconds if r.connect_seconds else 0.0
        out.update({f"{k}_handshake_{p}_ms": v for p, v in ms(r.handshakes).items()})
        out[f"{k}_rss_before_mb"] = r.rss_before
        out[f"{k}_rss_mb"] = r.rss_held
        out[f"{k}_kb_per_socket"] = kb_per_socket(r)
        if r.cpu is not None and r.measured:
            per = r.cpu.per(r.held * r.measured)
            out.update({f"{k}_cpu_us_per_delivery_{w}": v * 1000 for w, v in per.items()})
            out[f"{k}_server_cpu_ms_per_event"] = r.cpu.server / r.measured * 1000
            out[f"{k}_cpu_cores_busy"] = {
                "client": r.cpu.client / r.cpu.wall,
                "server": r.cpu.server / r.cpu.wall,
                "other": r.cpu.other / r.cpu.wall,
            }
        out[f"{k}_frame_bytes"] = len(r.sample.encode())
        out[f"{k}_heartbeats_in_window"] = len(in_window(r))
    return out


def raise_nofile(need: int) -> tuple[int, int]:
    """The soft RLIMIT_NOFILE up to the hard one (the server subprocess inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < need:
        print(f"warning: RLIMIT_NOFILE is {soft}: {need} sockets need more; expect failures")
    return soft, hard


async def run(args: argparse.Namespace, settings: Settings, code: str) -> dict[str, Any]:
    assert settings.database_url is not None
    nofile, _ = raise_nofile(max(args.sizes) + 200)
    print(
        f"tidings WebSocket benchmark, code {code}: {CORES} cores, one uvicorn process, "
        f"client loop {args.loop}, RLIMIT_NOFILE {nofile}, {args.users} user(s)"
    )
    if (busy := await busy_cores()) > 0.2:
        print(f"warning: {busy:.1f} cores were busy before the run; expect noisy figures")
    results: list[Result] = []
    bench: Bench | None = None
    started = time.perf_counter()
    try:
        async with api_server(dict(os.environ)) as server:
            bench = Bench(args, settings, server.base_url, server.pid)
            await bench.create_stream()
            print(f"tenant {bench.tenant}, stream {SLUG}, server pid {server.pid}", flush=True)
            for sockets, rate in zip(args.sizes, args.rates, strict=True):
                result = await bench.measure(sockets, rate)
                await asyncio.sleep(1.0)  # the server finishes the closes
                await bench.redis_baseline(result)
                report(result)
                results.append(result)
    finally:
        if bench is not None and not args.keep:
            conn = await asyncpg.connect(to_asyncpg_dsn(settings.database_url))
            try:
                await drop_tenants(conn, [bench.tenant])
            finally:
                await conn.close()
    elapsed = time.perf_counter() - started
    print(f"\nTidings beside Redis pub/sub to one listener ({elapsed:.0f} s in all):")
    print_table(table(results))
    verdicts(results)
    return {
        **figures(results),
        "seconds": args.seconds,
        "users": args.users,
        "run_s": elapsed,
        "cores": CORES,
        "code": code,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = bench_settings("bench-ws")
    upgrade(settings)
    coro = run(args, settings, code_version())
    if args.loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            data = runner.run(coro)
    else:
        data = asyncio.run(coro)
    print_figures(data)


if __name__ == "__main__":
    main()
