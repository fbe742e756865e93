"""Shared benchmark plumbing: percentiles, the results table, CPU accounting, a concurrent
driver and a real uvicorn server in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORES = os.cpu_count() or 1
T = TypeVar("T")
STARTUP_SECONDS = 30
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def code_version() -> str:
    """The commit measured (`-dirty` with uncommitted changes to tracked files)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99, interpolated between samples (numpy's default method)."""
    if len(samples) < 2:
        only = samples[0] if samples else float("nan")
        return {"p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


def bench_settings(make_target: str) -> Settings:
    """The settings a benchmark runs with, with one JWT secret for the tokens it mints and
    the server that checks them; exits saying how to run it when no servers are set."""
    os.environ.setdefault("TIDINGS_JWT_SECRET", secrets.token_urlsafe(32))
    settings = Settings()
    if settings.database_url is None or settings.redis_url is None:
        sys.exit(f"set TIDINGS_DATABASE_URL and TIDINGS_REDIS_URL, or run `make {make_target}`")
    return settings


def print_figures(data: Mapping[str, Any]) -> None:
    """The closing line every benchmark prints: its figures as one JSON object."""
    print(orjson.dumps(rounded(data)).decode())


def rounded(value: Any) -> Any:
    """Figures for the closing JSON line: floats to three places, all the way down."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results: a Tidings figure beside the raw figure it is bounded by."""

    what: str
    tidings: float
    unit: str
    baseline_label: str = ""
    baseline: float | None = None
    baseline_unit: str | None = None  # when it differs from the Tidings figure's

    @property
    def ratio(self) -> float | None:
        return self.tidings / self.baseline if self.baseline else None


def print_table(rows: Sequence[Row]) -> None:
    """A Markdown table, so a run's output can be pasted into docs/performance.md as is."""
    cells = [("what", "tidings", "baseline", "ratio")]
    for row in rows:
        baseline = "—"
        if row.baseline is not None:
            unit = row.unit if row.baseline_unit is None else row.baseline_unit
            baseline = f"{row.baseline_label} {fmt(row.baseline)} {unit}".strip()
        ratio = "—"
        if row.ratio is not None:
            # A throughput ratio is the fraction of the ceiling reached; a latency one, a multiple.
            ratio = f"{row.ratio:.1f}x" if row.unit == "ms" else f"{row.ratio:.2f}"
        cells.append((row.what, f"{fmt(row.tidings)} {row.unit}", baseline, ratio))
    widths = [max(len(line[i]) for line in cells) for i in range(4)]
    for n, line in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if n == 0:
            print("| " + " | ".join("-" * w for w in widths) + " |")


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _machine_busy() -> float:
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    # user nice system idle iowait irq softirq: steal is the host's, guest is within user.
    return (sum(ticks[:7]) - ticks[3] - ticks[4]) / _TICK


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds spent during a phase: this process, the API server, and everything else
    (PostgreSQL and Redis, on a machine otherwise idle)."""

    wall: float
    client: float
    server: float
    other: float

    def per(self, count: int) -> dict[str, float]:
        """Milliseconds of CPU per item."""
        return {k: getattr(self, k) / count * 1000 for k in ("client", "server", "other")}

    def describe(self, count: int, unit: str) -> str:
        per = self.per(count)
        return (
            f"cpu s: client {self.client:.1f}, server {self.server:.1f}, "
            f"db+other {self.other:.1f} of {self.wall * CORES:.1f} ({self.wall:.1f} s x {CORES} "
            f"cores); ms per {unit}: {per['client']:.2f} / {per['server']:.2f} / {per['other']:.2f}"
        )


async def busy_cores(seconds: float = 1.0) -> float:
    """How many cores something else keeps busy before we start (0 on a quiet machine)."""
    before = _machine_busy()
    await asyncio.sleep(seconds)
    return (_machine_busy() - before) / seconds


class CpuMeter:
    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self._start = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float, float]:
        server = _process_cpu(self.server_pid) if self.server_pid else 0.0
        return time.perf_counter(), time.process_time(), server, _machine_busy()

    def stop(self) -> CpuUse:
        end = self._snapshot()
        wall, client, server, busy = (b - a for a, b in zip(self._start, end, strict=True))
        return CpuUse(wall, client, server, max(busy - client - server, 0.0))


@dataclass(slots=True)
class Run:
    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    cpu: CpuUse | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def ms(self) -> dict[str, float]:
        return {k: v * 1000 for k, v in percentiles(self.latencies).items()}


async def drive(
    items: Iterable[T],
    senders: Sequence[Callable[[T], Awaitable[object]]],
    *,
    server_pid: int | None = None,
) -> Run:
    """Feeds `items` to one worker per sender (a closed loop: each worker sends its next
    item as soon as the last one is answered) and times every item."""
    queue = iter(items)
    latencies: list[float] = []

    async def worker(send: Callable[[T], Awaitable[object]]) -> None:
        for item in queue:
            started = time.perf_counter()
            await send(item)
            latencies.append(time.perf_counter() - started)

    meter = CpuMeter(server_pid)
    async with asyncio.TaskGroup() as group:
        for send in senders:
            group.create_task(worker(send))
    cpu = meter.stop()
    return Run(len(latencies), cpu.wall, latencies, cpu)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    pid: int


@contextlib.asynccontextmanager
async def api_server(env: Mapping[str, str]) -> AsyncIterator[Server]:
    """Runs `uvicorn --factory app.main:create_app` (one worker, as `tidings serve` does:
    access log and WebSocket compression off) on a free port until the block exits."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"),
        *("--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"),
        # as `tidings serve`: per-message compression costs CPU per frame and socket
        *("--ws-per-message-deflate", "false"),
        cwd=ROOT,
        env={**env, "TIDINGS_LOG_LEVEL": "WARNING"},
    )
    server = Server(f"http://127.0.0.1:{port}", proc.pid)
    try:
        await _wait_healthy(server.base_url, proc)
        yield server
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_healthy(base_url: str, proc: asyncio.subprocess.Process) -> None:
    try:
        async with asyncio.timeout(STARTUP_SECONDS), httpx.AsyncClient(base_url=base_url) as client:
            while proc.returncode is None:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
    except TimeoutError:
        msg = f"the API server did not answer /healthz in {STARTUP_SECONDS} s"
        raise RuntimeError(msg) from None
    raise RuntimeError(f"the API server exited with code {proc.returncode}")


class KeepAliveClient:
    """GET (and POST) over one HTTP/1.1 keep-alive connection with the least client work:
    the request bytes are formatted once per call and the response is read by its
    Content-Length. httpx spends ~0.7 ms of CPU per request, on the same two cores as the
    server, which would be measured as the server's latency; this spends ~0.05 ms."""

    def __init__(self, base_url: str) -> None:
        host_port = base_url.removeprefix("http://").rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        # a GET is safe to send again
        return await self._exchange(
            ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), resend=True
        )

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """A JSON POST, never sent twice."""
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return await self._exchange(request, resend=False)

    async def _exchange(self, request: bytes, *, resend: bool) -> tuple[int, bytes]:
        fresh = self._writer is None
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(request)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError):
            if fresh or not resend:
                raise
            # uvicorn closes a connection idle for its keep-alive timeout (5 s), as between
            # two phases: the request goes again, once, on a new connection
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._writer.write(request)
            head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by this client")
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = self._reader = None
