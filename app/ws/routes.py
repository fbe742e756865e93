"""Seed 003's WebSocket routes (docs/websocket.md): authenticate at the handshake, watch
one stream's object (or your own feed), relay what happens, take the client's frames."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from redis.exceptions import RedisError

from app.auth import AuthError, TokenVerifier
from app.db import set_delivery, transaction
from app.logging import log
from app.repositories.feeds import FeedReads
from app.schemas.events import EventFields
from app.schemas.live import (
    ActivityFrame,
    CommentFrame,
    MarkReadFrame,
    PingFrame,
    PongFrame,
    PresenceFrame,
    TypingFrame,
    client_frame,
)
from app.services.events import StreamTarget, event_service
from app.services.feeds import feed_service
from app.services.live import event_frame, set_live
from app.services.presence import StreamDirectory, WatchedStream, user_card
from app.services.users import user_service
from app.ws.connection import (
    CLOSE_AUTH,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_BIG,
    Connection,
    Kind,
    dumps,
    error_frame,
)
from app.ws.hub import Hub

router = APIRouter()
PROTOCOL = "tidings.v1"
BEARER_PREFIX = "bearer."
TYPING_EVERY = 2.0  # seconds between relayed "still typing" frames of one socket
ACTIVITY_EVERY = 30.0  # seconds between presence refreshes for `activity` frames
TYPING_KINDS = frozenset({Kind.task, Kind.stream})
COMMENT_KINDS = frozenset({Kind.task, Kind.stream})

Resolve = Callable[[StreamDirectory, str], Awaitable[WatchedStream | None]]


@router.websocket("/ws/projects/{project_id}/")
async def project_socket(websocket: WebSocket, project_id: str) -> None:
    await LiveSocket(websocket, Kind.project).run(
        lambda d, tenant: d.by_object(tenant, "project", project_id)
    )


@router.websocket("/ws/tasks/{task_id}/")
async def task_socket(websocket: WebSocket, task_id: str) -> None:
    await LiveSocket(websocket, Kind.task).run(
        lambda d, tenant: d.by_object(tenant, "task", task_id)
    )


@router.websocket("/ws/streams/{slug}/")
async def stream_socket(websocket: WebSocket, slug: str) -> None:
    await LiveSocket(websocket, Kind.stream).run(lambda d, tenant: d.by_slug(tenant, slug))


@router.websocket("/ws/notifications/")
async def notification_socket(websocket: WebSocket) -> None:
    await LiveSocket(websocket, Kind.notifications).run(None)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class LiveSocket:
    """One socket's protocol, from the handshake to the close."""

    def __init__(self, websocket: WebSocket, kind: Kind) -> None:
        self.websocket = websocket
        self.kind = kind
        self.app: Any = websocket.app
        self.hub: Hub = self.app.state.hub
        self.settings = self.app.state.settings
        offered = [str(p).strip() for p in websocket.scope.get("subprotocols") or []]
        self.protocol = PROTOCOL if PROTOCOL in offered else None
        self.offered = offered

    # --- handshake ----------------------------------------------------------------

    def _token(self) -> str | None:
        for offered in self.offered:
            if offered.startswith(BEARER_PREFIX):
                return str(offered[len(BEARER_PREFIX) :])
        return self.websocket.query_params.get("token")

    async def _refuse(self, code: int, reason: str) -> None:
        # Browsers see no status for a refused upgrade: accept, say why, close.
        await self.websocket.accept(subprotocol=self.protocol)
        await self.websocket.send_text(
            error_frame("unauthorized" if code == CLOSE_AUTH else "not_found", reason)
        )
        await self.websocket.close(code, reason[:120])

    async def run(self, resolve: Resolve | None) -> None:
        token = self._token()
        verifier: TokenVerifier = self.app.state.verifier
        try:
            if not token:
                raise AuthError("a token is required (query parameter or subprotocol)")
            principal = verifier.verify(token)
        except AuthError as exc:
            await self._refuse(CLOSE_AUTH, str(exc))
            return
        stream: WatchedStream | None = None
        if resolve is not None:
            stream = await resolve(self.app.state.directory, principal.tenant_id)
            if stream is None:
                await self._refuse(CLOSE_NOT_FOUND, "no such object or stream")
                return
        await self.websocket.accept(subprotocol=self.protocol)
        connection = Connection(
            self.websocket,
            principal,
            self.kind,
            stream,
            queue_size=self.settings.ws_send_queue,
            replay_limit=self.settings.ws_replay_limit,
        )
        await self._serve(connection)

    async def _serve(self, connection: Connection) -> None:
        params = self.websocket.query_params
        page = (params.get("page") or "")[:500] or None
        last = _uuid(params.get("last_event_id"))
        connection.hold()  # live frames wait until the handshake's (and a replay's) are out
        connection.start()
        await self.hub.add(connection)
        try:
            await self._establish(connection, page)
            sent: set[str] = set()
            if "last_event_id" in params:
                sent = await self._replay(connection, last)
            if connection.overflowed:
                connection.send_now(dumps({"type": "resync_required", "reason": "too_many_missed"}))
            await connection.release(sent)
            await self._receive(connection)
        finally:
            await self.hub.remove(connection)
            if connection.stream is not None:
                try:
                    left = await self.hub.presence.leave(
                        connection.stream, connection.principal, connection.id
                    )
                    if left is not None:
                        await self.hub.announce_left(connection.stream, left)
                except RedisError as exc:  # the entry lapses on its own
                    log.warning("ws.presence_leave_failed", error=str(exc))
            await connection.finish()

    async def _establish(self, connection: Connection, page: str | None) -> None:
        frame: dict[str, Any] = {
            "type": "connection_established",
            "connection_id": connection.id,
            "user": user_card(connection.principal),
            "object": None,
            "heartbeat_seconds": self.settings.ws_heartbeat_seconds,
            "server_time": _now(),
        }
        stream = connection.stream
        if stream is None:
            connection.send_now(dumps(frame))
            connection.send_now(await self.hub.unread_now(connection.tenant_id, connection.user_id))
            return
        joined = await self.hub.presence.join(stream, connection.principal, connection.id, page)
        count, present, lapsed = await self.hub.presence.present(stream)
        frame.update(object=stream.describe(), presence=present, present_count=count)
        connection.send_now(dumps(frame))
        publisher = self.hub.publisher
        for gone in [*joined.lapsed, *lapsed]:
            await self.hub.announce_left(stream, gone)
        if joined.first:
            await publisher.broadcast(
                stream.tenant_id,
                stream.stream_id,
                {"type": "user_joined", "user": joined.entry["user"], "presence": joined.entry},
                skip_user=connection.user_id,
            )

    async def _replay(self, connection: Connection, last: uuid.UUID | None) -> set[str]:
        """Sends what the client missed after `last`; the ids sent."""
        limit = self.settings.ws_replay_limit
        frames: list[tuple[str, str]] | None = None
        if last is not None and connection.stream is not None:
            async with self.app.state.session_factory() as session:
                views = await event_service.recorded_after(
                    session,
                    connection.tenant_id,
                    connection.stream.stream_id,
                    last,
                    limit=limit + 1,
                )
            if views is not None:
                frames = [(str(v.id), event_frame(v)) for v in views]
        elif last is not None:
            async with self.app.state.reader.connection() as conn:
                items = await FeedReads(conn).after(
                    connection.tenant_id, connection.user_id, last, limit=limit + 1
                )
            if items is not None:
                payloads = await feed_service.payloads(
                    self.app.state.session_factory, connection.tenant_id, items
                )
                frames = [
                    (str(p["event_id"]), dumps({"type": "new_notification", "notification": p}))
                    for p in payloads
                ]
        if frames is None or len(frames) > limit:
            reason = "unknown_event" if frames is None else "too_many_missed"
            connection.send_now(dumps({"type": "resync_required", "reason": reason}))
            return set()
        for _, frame in frames:
            await connection.put(frame)
        if connection.kind is Kind.notifications and frames:
            connection.send_now(await self.hub.unread_now(connection.tenant_id, connection.user_id))
        return {event_id for event_id, _ in frames}

    # --- the client's frames ------------------------------------------------------

    async def _receive(self, connection: Connection) -> None:
        limit = self.settings.ws_max_message_bytes
        while not connection.closing:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                connection.send_now(error_frame("invalid_frame", "frames are JSON text"))
                continue
            if len(text) > limit or len(text.encode()) > limit:
                connection.send_now(
                    error_frame("message_too_large", f"a frame may have at most {limit} bytes")
                )
                await connection.finish()
                await connection.close(CLOSE_TOO_BIG, "message too large")
                return
            if not connection.heard():
                connection.send_now(error_frame("rate_limited", "more than 20 frames a second"))
                continue
            try:
                frame = client_frame.validate_json(text)
            except ValidationError as exc:
                connection.send_now(_invalid(exc))
                continue
            await self._handle(connection, frame)

    async def _seen(self, connection: Connection) -> None:
        """The user did something here: `last_seen` (hence `is_active`) moves, at most
        every 30 s."""
        now = time.monotonic()
        if connection.stream is not None and now - connection.seen_at > ACTIVITY_EVERY:
            connection.seen_at = now
            await self.hub.presence.touch(connection.stream, connection.principal)

    async def _handle(self, connection: Connection, frame: Any) -> None:
        if isinstance(frame, TypingFrame | CommentFrame | ActivityFrame):
            await self._seen(connection)
        match frame:
            case PingFrame(ts=ts):
                connection.send_now(dumps({"type": "pong", "ts": ts}))
            case PongFrame():
                pass
            case TypingFrame(is_typing=typing):
                await self._typing(connection, typing)
            case CommentFrame():
                await self._comment(connection, frame)
            case PresenceFrame(current_page=page):
                await self._presence(connection, page)
            case ActivityFrame():
                pass  # seen, above
            case MarkReadFrame():
                await self._mark_read(connection, frame)

    def _not_here(self, connection: Connection, what: str) -> None:
        connection.send_now(
            error_frame("not_allowed", f"{what} is not taken on a {connection.kind} socket")
        )

    async def _typing(self, connection: Connection, typing: bool) -> None:
        stream = connection.stream
        if stream is None or connection.kind not in TYPING_KINDS:
            self._not_here(connection, "typing")
            return
        now = time.monotonic()
        if typing and connection.typing and now - connection.typing_sent_at < TYPING_EVERY:
            return  # throttled: the others already know
        if not typing and not connection.typing:
            return
        connection.typing, connection.typing_sent_at = typing, now
        await self.hub.publisher.broadcast(
            stream.tenant_id,
            stream.stream_id,
            {"type": "user_typing", "user": user_card(connection.principal), "is_typing": typing},
            skip_user=connection.user_id,
        )

    async def _presence(self, connection: Connection, page: str) -> None:
        stream = connection.stream
        if stream is None:
            self._not_here(connection, "presence")
            return
        entry = await self.hub.presence.touch(stream, connection.principal, current_page=page)
        if entry is not None:
            await self.hub.publisher.broadcast(
                stream.tenant_id,
                stream.stream_id,
                {"type": "presence_updated", "user": entry["user"], "presence": entry},
                skip_user=connection.user_id,
            )

    def _prepare(self, session: Any) -> None:
        set_delivery(session, self.app.state.delivery)
        set_live(session, self.app.state.live)

    async def _comment(self, connection: Connection, frame: CommentFrame) -> None:
        stream = connection.stream
        if stream is None or connection.kind not in COMMENT_KINDS:
            self._not_here(connection, "a comment")
            return
        await user_service.ensure_known(
            self.app.state.session_factory, connection.principal, self.app.state.known_users
        )
        data: dict[str, Any] = {"text": frame.content}
        if frame.parent_id is not None:
            data["parent_id"] = frame.parent_id
        fields = EventFields(event_type="comment", data=data)
        async with transaction(self.app.state.session_factory, self._prepare) as session:
            result = await event_service.record(
                session,
                actor=connection.principal,
                target=StreamTarget(stream.slug),
                new=fields,
            )
        if not result.success:
            connection.send_now(error_frame(result.error.code, result.error.message))

    async def _mark_read(self, connection: Connection, frame: MarkReadFrame) -> None:
        if connection.kind is not Kind.notifications:
            self._not_here(connection, "mark_read")
            return
        async with transaction(self.app.state.session_factory, self._prepare) as session:
            updated = await feed_service.mark_read(
                session, actor=connection.principal, ids=None if frame.all else frame.ids
            )
        if not updated:  # nothing changed, so nothing is published: answer here
            connection.send_now(
                dumps(
                    {"type": "notification_read", "updated_count": 0}
                    | ({"all": True} if frame.all else {"ids": [str(i) for i in frame.ids or []]})
                )
            )
            connection.send_now(await self.hub.unread_now(connection.tenant_id, connection.user_id))


def _uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _invalid(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0] if errors else {"type": "", "msg": "invalid", "loc": ()}
    if first["type"] == "json_invalid":
        return error_frame("malformed_json", "not valid JSON")
    if first["type"] == "union_tag_invalid":
        return error_frame("unknown_type", f"unknown frame type: {first.get('input')!r}"[:200])
    if first["type"] in ("union_tag_not_found", "model_attributes_type", "model_type"):
        return error_frame("invalid_frame", "a frame is a JSON object with a `type`")
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or 'frame'}: {e['msg']}" for e in errors
    )
    return error_frame("invalid_frame", detail[:500])
