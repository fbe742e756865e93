"""One open socket: its identity, what it watches, and a bounded send queue drained by
one writer task (never a task per send)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
import uuid
from collections import deque
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from app.auth import Principal
from app.encoding import dumps as encode
from app.logging import log
from app.services.presence import WatchedStream

CLOSE_SLOW = 1013  # try again later: the client reads too slowly (it resumes)
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_AUTH = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_HEARTBEAT = 4408


class Kind(enum.StrEnum):
    project = "project"
    task = "task"
    stream = "stream"
    notifications = "notifications"


def dumps(frame: dict[str, Any]) -> str:
    return encode(frame).decode()


def error_frame(code: str, detail: str) -> str:
    return dumps({"type": "error", "code": code, "detail": detail})


class Connection:
    """Frames are offered (never awaited) and a single writer task sends them in order.
    Volatile frames (presence, typing, pings) are dropped once the queue is half full;
    anything else finding it full closes the socket (the client resumes from PostgreSQL)
    instead of letting memory grow."""

    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        kind: Kind,
        stream: WatchedStream | None,
        *,
        queue_size: int,
        replay_limit: int,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.websocket = websocket
        self.principal = principal
        self.kind = kind
        self.stream = stream
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(queue_size)
        self.closing = False
        self.pings_unanswered = 0
        self.heartbeat_slice = 0  # which tenth of the heartbeat period pings it (the hub's)
        self.dropped = 0
        self.typing_sent_at = 0.0
        self.typing = False
        self.seen_at = 0.0  # last `activity` that refreshed presence
        self._tokens = 40.0  # client frames: a bucket of 40, refilled at 20 a second
        self._refilled = time.monotonic()
        # While a resume replays missed events, live frames wait here (event id, frame);
        # `overflowed` once more arrive than a replay may hold.
        self._held: deque[tuple[str | None, str]] | None = None
        self._hold_limit = replay_limit
        self.overflowed = False
        self._writer: asyncio.Task[None] | None = None

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.id}")

    async def _write(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                if frame is None:
                    return
                await self.websocket.send_text(frame)
        except Exception as exc:  # the peer went away mid-send
            log.debug("ws.send_failed", connection=self.id, error=str(exc))
            self.closing = True

    def heard(self) -> bool:
        """The client sent a frame: it is alive. False when it is over its rate."""
        self.pings_unanswered = 0
        now = time.monotonic()
        self._tokens = min(40.0, self._tokens + (now - self._refilled) * 20.0)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def hold(self) -> None:
        """Holds live frames back until `release` (while a resume is replayed)."""
        self._held = deque()

    async def release(self, sent: set[str]) -> None:
        """Sends the held live frames, except events the replay already sent, then lets
        live frames through again."""
        held = self._held or deque()
        while held:
            event_id, frame = held.popleft()
            if event_id is None or event_id not in sent:
                await self.put(frame)
        self._held = None

    async def put(self, frame: str) -> None:
        """Queues a frame waiting for room (a replay: as fast as the client reads it)."""
        if not self.closing:
            await self.queue.put(frame)

    def offer(self, frame: str, *, volatile: bool = False, event_id: str | None = None) -> None:
        if self.closing:
            return
        if self._held is not None:
            if volatile:
                return
            if len(self._held) >= self._hold_limit:
                self.overflowed = True
                self._held.clear()
            else:
                self._held.append((event_id, frame))
            return
        if volatile and self.queue.qsize() * 2 >= self.queue.maxsize:
            self.dropped += 1
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("ws.slow_consumer", connection=self.id, user=self.user_id)
            self.kill(CLOSE_SLOW, "send queue full")

    def send_now(self, frame: str) -> None:
        """For frames that must go whatever is held (the handshake's, a replay's)."""
        if self.closing:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.kill(CLOSE_SLOW, "send queue full")

    def kill(self, code: int, reason: str = "") -> None:
        """Closes the socket from outside its handler (slow, silent, server stopping)."""
        if self.closing:
            return
        self.closing = True
        task = asyncio.create_task(self.close(code, reason))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def close(self, code: int, reason: str = "", *, wait: float | None = None) -> None:
        """Drops what is queued and closes. The close frame queues behind what the
        transport still holds, so for a reader that stopped it goes out only when the
        reader reads again (or never, then the client's own heartbeat gives up): by
        default this waits as long as that takes, the queue's memory already freed."""
        self.closing = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
        while not self.queue.empty():
            self.queue.get_nowait()
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.websocket.close(code, reason), wait)

    async def finish(self) -> None:
        """Lets the writer send what is queued, then stops it (a normal end)."""
        if self._writer is None or self._writer.done():
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(self._writer, 2)
        except (TimeoutError, asyncio.CancelledError):
            self._writer.cancel()
