"""Every API process has one hub: its open sockets by what they watch, one Redis pub/sub
connection relaying what any process (or worker) published, a heartbeat, and presence
upkeep. A message from Redis is decoded once and the same text is offered to every local
socket concerned."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import Reader
from app.logging import log
from app.repositories.feeds import FeedEntry, FeedReads
from app.services.feeds import feed_service
from app.services.live import (
    LivePublisher,
    notifications_channel,
    open_envelope,
    stream_channel,
)
from app.services.presence import PresenceService, WatchedStream
from app.settings import Settings
from app.ws.connection import CLOSE_GOING_AWAY, CLOSE_HEARTBEAT, Connection, Kind, dumps

PING = dumps({"type": "ping"})
RELAY_RETRY_SECONDS = 1.0
HEARTBEAT_SLICES = 10


def unread_frame(by_type: dict[str, int]) -> str:
    return dumps(
        {
            "type": "unread_count",
            "count": sum(by_type.values()),
            "by_type": dict(sorted(by_type.items())),
        }
    )


class Hub:
    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        *,
        publisher: LivePublisher,
        presence: PresenceService,
        reader: Reader,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.publisher = publisher
        self.presence = presence
        self.reader = reader
        self.session_factory = session_factory
        self.id = uuid.uuid4().hex
        self.connections: set[Connection] = set()
        self._joined = 0  # connections ever added: each gets the next heartbeat slice
        self._streams: dict[str, set[Connection]] = defaultdict(set)
        self._watched: dict[str, WatchedStream] = {}
        self._inboxes: dict[str, dict[str, set[Connection]]] = defaultdict(lambda: defaultdict(set))
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()

    # --- life ---------------------------------------------------------------------

    async def start(self) -> None:
        # A channel of its own keeps the pub/sub subscribed (and listening) when no socket
        # watches anything.
        await self._pubsub.subscribe(f"tidings:hub:{self.id}")
        self._tasks = [
            asyncio.create_task(self._relay(), name="hub-relay"),
            asyncio.create_task(self._heartbeat(), name="hub-heartbeat"),
            asyncio.create_task(self._presence_upkeep(), name="hub-presence"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(
            *(
                c.close(CLOSE_GOING_AWAY, "server shutting down", wait=5)
                for c in list(self.connections)
            ),
            return_exceptions=True,
        )
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    def spawn(self, work: Awaitable[None]) -> None:
        """Work one message causes (a database read for a notification), off the relay."""
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- registry -----------------------------------------------------------------

    async def add(self, connection: Connection) -> None:
        connection.heartbeat_slice = self._joined % HEARTBEAT_SLICES
        self._joined += 1
        self.connections.add(connection)
        if connection.kind is Kind.notifications:
            channel = notifications_channel(connection.tenant_id)
            inbox = self._inboxes[connection.tenant_id]
            first = not inbox
            inbox[connection.user_id].add(connection)
        else:
            assert connection.stream is not None
            channel = stream_channel(connection.tenant_id, connection.stream.stream_id)
            first = not self._streams[channel]
            self._streams[channel].add(connection)
            self._watched[channel] = connection.stream
        if first:
            await self._pubsub.subscribe(channel)

    async def remove(self, connection: Connection) -> None:
        self.connections.discard(connection)
        if connection.kind is Kind.notifications:
            inbox = self._inboxes.get(connection.tenant_id)
            if inbox is None:
                return
            mine = inbox.get(connection.user_id)
            if mine is not None:
                mine.discard(connection)
                if not mine:
                    del inbox[connection.user_id]
            if not inbox:
                del self._inboxes[connection.tenant_id]
                await self._unsubscribe(notifications_channel(connection.tenant_id))
            return
        assert connection.stream is not None
        channel = stream_channel(connection.tenant_id, connection.stream.stream_id)
        watchers = self._streams.get(channel)
        if watchers is not None:
            watchers.discard(connection)
            if not watchers:
                del self._streams[channel]
                self._watched.pop(channel, None)
                await self._unsubscribe(channel)

    async def _unsubscribe(self, channel: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.unsubscribe(channel)

    # --- relay --------------------------------------------------------------------

    async def _relay(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self._dispatch(_text(message["channel"]), message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Whatever was published meanwhile is lost to the sockets: close them so
                # their clients resume from PostgreSQL, then listen again.
                log.warning("hub.relay_failed", error=str(exc))
                for connection in list(self.connections):
                    connection.kill(1012, "live relay restarting")
                await asyncio.sleep(RELAY_RETRY_SECONDS)

    def _dispatch(self, channel: str, data: bytes) -> None:
        try:
            meta, frame = open_envelope(data)
        except ValueError:
            log.warning("hub.bad_message", channel=channel)
            return
        kind = meta.get("k")
        if kind == "event":
            event_id = meta.get("e")
            for connection in self._streams.get(channel, ()):
                connection.offer(frame, event_id=event_id)
        elif kind == "volatile":
            skip = meta.get("skip")
            for connection in self._streams.get(channel, ()):
                if connection.user_id != skip:
                    connection.offer(frame, volatile=True)
        elif kind in ("delivered", "read"):
            tenant_id = channel.split(":", 2)[1]
            if self._inboxes.get(tenant_id):
                handler = self._delivered if kind == "delivered" else self._read
                self.spawn(handler(tenant_id, meta))

    # --- notifications ------------------------------------------------------------

    async def _delivered(self, tenant_id: str, meta: dict[str, Any]) -> None:
        """A fan-out chunk reached the users in (after, last]: those connected here get
        their new item and their count."""
        inbox = self._inboxes.get(tenant_id, {})
        users = list(inbox)
        if not users:
            return
        # The range is compared by PostgreSQL, whose collation ordered the chunk.
        after, last = str(meta.get("after", "")), str(meta.get("last", ""))
        event_id, at = uuid.UUID(meta["e"]), datetime.fromisoformat(meta["at"])
        async with self.reader.connection() as conn:
            reads = FeedReads(conn)
            items = await reads.delivered_to(tenant_id, users, at, event_id, after=after, last=last)
            if not items:
                return
            counts = await reads.unread_of_users(tenant_id, [u for u, _ in items])
        frame = await self._notification_frame(tenant_id, items[0][1])
        for user, _ in items:
            count = unread_frame(counts.get(user, {}))
            for connection in inbox.get(user, ()):
                connection.offer(frame, event_id=str(event_id))
                connection.offer(count)

    async def _notification_frame(self, tenant_id: str, item: FeedEntry) -> str:
        (payload,) = await feed_service.payloads(self.session_factory, tenant_id, [item])
        return dumps({"type": "new_notification", "notification": payload})

    async def _read(self, tenant_id: str, meta: dict[str, Any]) -> None:
        user = str(meta.get("u", ""))
        mine = self._inboxes.get(tenant_id, {}).get(user)
        if not mine:
            return
        async with self.reader.connection() as conn:
            counts = await FeedReads(conn).unread_of_users(tenant_id, [user])
        read: dict[str, Any] = {"type": "notification_read", "updated_count": meta.get("n", 0)}
        if meta.get("ids") is not None:
            read["ids"] = meta["ids"]
        elif meta.get("stream") is not None:
            read["stream_id"] = meta["stream"]
        else:
            read["all"] = True
        frames = (dumps(read), unread_frame(counts.get(user, {})))
        for connection in list(mine):
            for frame in frames:
                connection.offer(frame)

    async def unread_now(self, tenant_id: str, user_id: str) -> str:
        async with self.reader.connection() as conn:
            counts = await FeedReads(conn).unread_of_users(tenant_id, [user_id])
        return unread_frame(counts.get(user_id, {}))

    # --- heartbeat and presence ----------------------------------------------------

    async def _heartbeat(self) -> None:
        """Pings every connection once per `ws_heartbeat_seconds`, a tenth of them at a
        time: thousands of pings (and pongs) at one instant would hold the loop up and
        delay every event sent meanwhile."""
        tick = self.settings.ws_heartbeat_seconds / HEARTBEAT_SLICES
        slice_ = 0
        while True:
            await asyncio.sleep(tick)
            slice_ = (slice_ + 1) % HEARTBEAT_SLICES
            for connection in list(self.connections):
                if connection.heartbeat_slice != slice_:
                    continue
                if connection.pings_unanswered >= 2:
                    log.info("ws.heartbeat_missed", connection=connection.id)
                    connection.kill(CLOSE_HEARTBEAT, "heartbeat missed")
                else:
                    connection.pings_unanswered += 1
                    connection.offer(PING, volatile=True)

    async def _presence_upkeep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.presence_refresh_seconds)
            try:
                await self.upkeep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hub.presence_upkeep_failed", error=str(exc))

    async def upkeep(self) -> None:
        """Keeps this process's connections present and announces the users whose
        connections lapsed (their process died) on the streams watched here."""
        await self.presence.refresh(
            [
                (c.stream, c.user_id, c.id)
                for c in self.connections
                if c.stream is not None and not c.closing
            ]
        )
        for stream in list(self._watched.values()):
            for gone in await self.presence.sweep(stream):
                await self.announce_left(stream, gone)

    async def announce_left(self, stream: WatchedStream, gone: dict[str, Any]) -> None:
        await self.publisher.broadcast(
            stream.tenant_id, stream.stream_id, {"type": "user_left", "user": gone["user"]}
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
