"""The live layer's producing side: what is published on which Redis channel when
something happens. The WebSocket hub (`app/ws`) consumes it in every API process.

A message is an envelope: one line of JSON metadata the hub routes by (kind, event id,
whom to skip), then, for frames every watcher gets alike, the frame's JSON text, encoded
here once and written as is to every socket. Publishing never fails the work that
caused it: a lost message is recovered by the client's resume (`last_event_id`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import EventRef
from app.logging import log
from app.schemas.events import EventRead

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from app.services.events import EventView

Publish = Callable[[str, bytes], Awaitable[Any]]
PublishMany = Callable[[Sequence[tuple[str, bytes]]], Awaitable[Any]]
_LIVE_KEY = "tidings.live"
PIPELINE = 500  # messages a batch sends to Redis in one round trip

# Seed 003's message types for the event types it names; anything else is an `event`.
_FRAME_TYPES = {
    "task_created": "task_created",
    "task_assigned": "task_assigned",
    "comment": "comment_added",
    "note": "comment_added",
}


def frame_type(event_type: str) -> str:
    if event_type in _FRAME_TYPES:
        return _FRAME_TYPES[event_type]
    if event_type.startswith("project_"):
        return "project_updated"
    if event_type.startswith("task_"):
        return "task_updated"
    return "event"


def stream_channel(tenant_id: str, stream_id: uuid.UUID | str) -> str:
    return f"tidings:{tenant_id}:stream:{stream_id}"


def notifications_channel(tenant_id: str) -> str:
    return f"tidings:{tenant_id}:notifications"


def envelope(meta: dict[str, Any], frame: str = "") -> bytes:
    return orjson.dumps(meta) + b"\n" + frame.encode()


def open_envelope(data: bytes) -> tuple[dict[str, Any], str]:
    head, _, frame = data.partition(b"\n")
    meta = orjson.loads(head)
    if not isinstance(meta, dict):
        raise ValueError("not an envelope")
    return meta, frame.decode()


def event_frame(view: EventView) -> str:
    """The frame every watcher of the event's stream gets (also what a resume replays)."""
    event = orjson.Fragment(EventRead.model_validate(view).model_dump_json())
    return orjson.dumps(
        {
            "type": frame_type(view.event_type),
            "id": str(view.id),
            "stream": view.stream,
            "event": event,
        }
    ).decode()


class LivePublisher:
    def __init__(self, publish: Publish, publish_many: PublishMany | None = None) -> None:
        self._publish = publish
        self._publish_many = publish_many

    @classmethod
    def over(cls, redis: Redis) -> LivePublisher:
        """Publishing on `redis`, a batch's messages pipelined (one round trip, in order)."""

        async def publish_many(messages: Sequence[tuple[str, bytes]]) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                for channel, data in messages:
                    pipe.publish(channel, data)
                await pipe.execute()

        return cls(redis.publish, publish_many)

    async def _send(self, channel: str, meta: dict[str, Any], frame: str = "") -> None:
        await self._send_enveloped(channel, envelope(meta, frame))

    async def _send_enveloped(self, channel: str, data: bytes) -> None:
        try:
            await self._publish(channel, data)
        except Exception as exc:  # Redis down: clients recover by resuming
            log.warning("live.publish_failed", channel=channel, error=str(exc))

    async def events_recorded(self, tenant_id: str, views: Sequence[EventView]) -> None:
        messages = [
            (
                stream_channel(tenant_id, view.stream_id),
                envelope({"k": "event", "e": str(view.id)}, event_frame(view)),
            )
            for view in views
        ]
        if self._publish_many is None or len(messages) == 1:
            for channel, data in messages:
                await self._send_enveloped(channel, data)
            return
        for start in range(0, len(messages), PIPELINE):
            try:
                await self._publish_many(messages[start : start + PIPELINE])
            except Exception as exc:  # Redis down: clients recover by resuming
                log.warning("live.publish_failed", channel=messages[start][0], error=str(exc))

    async def feed_delivered(self, event: EventRef, after: str, last: str) -> None:
        """A fan-out chunk committed: its recipients are the users in (after, last]; the
        hubs find which of their connected users those are and load their items."""
        await self._send(
            notifications_channel(event.tenant_id),
            {
                "k": "delivered",
                "e": str(event.event_id),
                "at": event.occurred_at.isoformat(),
                "after": after,
                "last": last,
            },
        )

    async def feed_read(
        self,
        tenant_id: str,
        user_id: str,
        ids: Sequence[uuid.UUID] | None,
        stream_id: uuid.UUID | None,
        updated: int,
    ) -> None:
        """Some of a user's items were read: the given ids, one stream's, or all."""
        await self._send(
            notifications_channel(tenant_id),
            {
                "k": "read",
                "u": user_id,
                "ids": None if ids is None else [str(i) for i in ids],
                "stream": None if stream_id is None else str(stream_id),
                "n": updated,
            },
        )

    async def broadcast(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        frame: dict[str, Any],
        *,
        skip_user: str | None = None,
    ) -> None:
        """Presence and typing frames: dropped first when a socket is congested."""
        meta: dict[str, Any] = {"k": "volatile"}
        if skip_user is not None:
            meta["skip"] = skip_user
        await self._send(stream_channel(tenant_id, stream_id), meta, orjson.dumps(frame).decode())


def set_live(session: AsyncSession, publisher: LivePublisher | None) -> None:
    session.info[_LIVE_KEY] = publisher


def live(session: AsyncSession) -> LivePublisher | None:
    found = session.info.get(_LIVE_KEY)
    return found if isinstance(found, LivePublisher) else None
