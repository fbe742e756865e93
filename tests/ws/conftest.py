"""WebSocket tests: the app with its lifespan running (the hub listens on Redis), real
commits (each test has a tenant of its own), sockets through httpx-ws in this loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from app.schemas.live import server_frame
from app.settings import Settings
from tests.conftest import Tokens


class Socket:
    """A connected socket with helpers that wait for a frame of a given type."""

    def __init__(self, ws: AsyncWebSocketSession) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def next(self, wait: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = await self.ws.receive_json(timeout=wait)
        # Every frame the server sends has the documented shape (and so the AsyncAPI's).
        server_frame.validate_python(frame)
        self.frames.append(frame)
        return frame

    async def expect(self, type_: str, wait: float = 5.0) -> dict[str, Any]:
        """The next frame of `type_`, skipping pings and others on the way."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {type_!r} frame within {wait} s; got {self.frames}")
            frame = await self.next(left)
            if frame.get("type") == type_:
                return frame

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Every frame that arrives within `seconds` of the last (pings left out)."""
        got: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            while True:
                frame = await self.next(seconds)
                if frame.get("type") != "ping":
                    got.append(frame)
        return got

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_json(frame)


@dataclass
class Live:
    """An app whose lifespan (and so its hub) runs, a client for its REST API and its
    sockets, and tokens of the test's tenant."""

    app: FastAPI
    http: AsyncClient
    tokens: Tokens

    def token(self, user: str = "alice", **claims: Any) -> str:
        return self.tokens.headers(user, **claims)["Authorization"].removeprefix("Bearer ")

    @contextlib.asynccontextmanager
    async def connect(
        self,
        path: str,
        user: str = "alice",
        *,
        query: str = "",
        queue_size: int = 512,
        **claims: Any,
    ) -> AsyncIterator[Socket]:
        """A socket authenticated by subprotocol (`tidings.v1`, `bearer.<token>`)."""
        url = f"http://test{path}" + (f"?{query}" if query else "")
        async with aconnect_ws(
            url,
            self.http,
            subprotocols=["tidings.v1", f"bearer.{self.token(user, **claims)}"],
            keepalive_ping_interval_seconds=None,
            queue_size=queue_size,
            session_class=AsyncWebSocketSession,
        ) as ws:
            yield Socket(ws)

    def raw(self, path: str, **kwargs: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        """A socket however the test likes it (no token, a token in the query...)."""
        return aconnect_ws(
            f"http://test{path}", self.http, keepalive_ping_interval_seconds=None, **kwargs
        )


LiveFactory = Callable[..., contextlib.AbstractAsyncContextManager[Live]]


@pytest.fixture
def live(settings: Settings, engine: AsyncEngine, redis: Redis, tokens: Tokens) -> LiveFactory:
    """`async with live(**setting_overrides) as env:`. Everything opens and closes in the
    test's own task (anyio's cancel scopes, inside httpx-ws, cannot cross tasks)."""

    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Live]:
        app = create_app(settings.model_copy(update=overrides), engine=engine, redis=redis)
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGIWebSocketTransport(app), base_url="http://test") as http,
        ):
            yield Live(app, http, tokens)

    return make
