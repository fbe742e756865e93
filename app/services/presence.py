"""Presence (seed 003's UserPresence, live in Redis) and the stream directory the live
layer resolves its objects with."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.models import Stream
from app.repositories.presence import PresenceStore
from app.repositories.streams import StreamRepository
from app.services.streams import canonical_object_type

# Seed 003's `is_active`: seen within the last five minutes.
ACTIVE_WINDOW_MS = 5 * 60 * 1000
LIST_LIMIT = 100


@dataclass(frozen=True, slots=True)
class WatchedStream:
    tenant_id: str
    stream_id: uuid.UUID
    slug: str
    object_type: str | None
    object_id: str | None

    @classmethod
    def of(cls, stream: Stream) -> WatchedStream:
        return cls(stream.tenant_id, stream.id, stream.slug, stream.object_type, stream.object_id)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.object_type,
            "id": self.object_id,
            "stream": self.slug,
            "stream_id": str(self.stream_id),
        }


class StreamDirectory:
    """What a socket or the presence API names (a host object, a slug) -> its stream.

    Answers are remembered for `ttl` seconds, so the handshake of a socket on a known
    stream needs no database round trip; an unknown one is asked again every time (it
    may have been created since)."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], ttl: float = 60.0) -> None:
        self._factory = factory
        self._ttl = ttl
        self._known: dict[tuple[str, ...], tuple[float, WatchedStream]] = {}

    def _remembered(self, key: tuple[str, ...]) -> WatchedStream | None:
        found = self._known.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def _remember(self, key: tuple[str, ...], stream: WatchedStream) -> WatchedStream:
        if len(self._known) > 100_000:
            self._known.clear()
        self._known[key] = (time.monotonic() + self._ttl, stream)
        return stream

    async def by_object(
        self, tenant_id: str, object_type: str, object_id: str
    ) -> WatchedStream | None:
        object_type = canonical_object_type(object_type)
        key = (tenant_id, "object", object_type, object_id)
        if (hit := self._remembered(key)) is not None:
            return hit
        async with self._factory() as session:
            stream = await StreamRepository(session).get_for_object(
                tenant_id, object_type, object_id
            )
        return None if stream is None else self._remember(key, WatchedStream.of(stream))

    async def by_slug(self, tenant_id: str, slug: str) -> WatchedStream | None:
        key = (tenant_id, "slug", slug)
        if (hit := self._remembered(key)) is not None:
            return hit
        async with self._factory() as session:
            stream = await StreamRepository(session).get_by_slug(tenant_id, slug)
        return None if stream is None else self._remember(key, WatchedStream.of(stream))


def user_card(principal: Principal) -> dict[str, Any]:
    """How a user is shown to the others (from their token; no database needed)."""
    parts = [p for p in (principal.first_name, principal.last_name) if p]
    return {
        "id": principal.user_id,
        "name": principal.name or " ".join(parts) or principal.user_id,
        "email": principal.email,
    }


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, int | float):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def entry(info: dict[str, Any], now_ms: int | None = None) -> dict[str, Any]:
    """A presence entry as clients see it (seed 003's fields)."""
    now_ms = _now_ms() if now_ms is None else now_ms
    last_seen = info.get("last_seen")
    shown = {
        "user": info.get("user") or {},
        "current_page": info.get("current_page"),
        "session_start": _iso(info.get("session_start")),
        "last_seen": _iso(last_seen),
        "is_active": isinstance(last_seen, int | float) and now_ms - last_seen < ACTIVE_WINDOW_MS,
    }
    if "connections" in info:
        shown["connections"] = info["connections"]
    return shown


@dataclass(frozen=True, slots=True)
class Joined:
    first: bool  # the user's first connection to the object (announce it)
    entry: dict[str, Any]
    lapsed: list[dict[str, Any]]  # users whose connections expired meanwhile (announce)


class PresenceService:
    def __init__(self, store: PresenceStore, *, ttl_seconds: float) -> None:
        self.store = store
        self.ttl_ms = int(ttl_seconds * 1000)

    async def join(
        self,
        stream: WatchedStream,
        principal: Principal,
        connection_id: str,
        current_page: str | None,
    ) -> Joined:
        now = _now_ms()
        info = {
            "user": user_card(principal),
            "current_page": current_page,
            "session_start": now,
            "last_seen": now,
        }
        first, stored, lapsed = await self.store.join(
            stream.tenant_id,
            stream.stream_id,
            principal.user_id,
            connection_id,
            info,
            now_ms=now,
            expires_ms=now + self.ttl_ms,
        )
        return Joined(first, entry(stored, now), [entry(i, now) for i in lapsed])

    async def leave(
        self, stream: WatchedStream, principal: Principal, connection_id: str
    ) -> dict[str, Any] | None:
        """The user's entry when this was their last connection (they left)."""
        info = await self.store.leave(
            stream.tenant_id, stream.stream_id, principal.user_id, connection_id
        )
        return None if info is None else entry(info)

    async def touch(
        self, stream: WatchedStream, principal: Principal, *, current_page: str | None = None
    ) -> dict[str, Any] | None:
        """Marks the user seen now (and on `current_page`, when given)."""
        changes: dict[str, Any] = {"last_seen": _now_ms()}
        if current_page is not None:
            changes["current_page"] = current_page
        info = await self.store.touch(
            stream.tenant_id, stream.stream_id, principal.user_id, changes
        )
        return None if info is None else entry(info)

    async def present(
        self, stream: WatchedStream, *, limit: int = LIST_LIMIT
    ) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
        """(present users, the first `limit` entries by arrival, users just swept)."""
        now = _now_ms()
        count, infos, lapsed = await self.store.present(
            stream.tenant_id, stream.stream_id, now_ms=now, limit=limit
        )
        return count, [entry(i, now) for i in infos], [entry(i, now) for i in lapsed]

    async def sweep(self, stream: WatchedStream) -> list[dict[str, Any]]:
        """Entries of the users whose last connection lapsed (their process died)."""
        now = _now_ms()
        return [
            entry(i, now)
            for i in await self.store.sweep(stream.tenant_id, stream.stream_id, now_ms=now)
        ]

    async def refresh(self, held: list[tuple[WatchedStream, str, str]]) -> None:
        """Keeps this process's connections (stream, user, connection id) alive."""
        await self.store.refresh(
            [(s.tenant_id, s.stream_id, user, conn) for s, user, conn in held],
            expires_ms=_now_ms() + self.ttl_ms,
        )
