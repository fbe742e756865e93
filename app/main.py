"""The ASGI application: `uvicorn --factory app.main:create_app`."""

from __future__ import annotations

import contextlib
import gc
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.admin.site import install_admin
from app.api import (
    activities,
    admin,
    asyncapi,
    demo,
    event_types,
    events,
    feeds,
    health,
    milestones,
    presence,
    streams,
    subscriptions,
)
from app.api.demo import STATIC
from app.api.deps import prepare_session
from app.api.errors import install_error_handlers, problem_response
from app.auth import TokenVerifier
from app.db import Delivery, Reader, create_engine, create_session_factory
from app.logging import configure_logging, log
from app.repositories.presence import PresenceStore
from app.services.live import LivePublisher
from app.services.presence import PresenceService, StreamDirectory
from app.settings import FanoutMode, Settings, get_settings
from app.workers.queue import Queue
from app.ws import routes as ws_routes
from app.ws.hub import Hub

DESCRIPTION = """
Activity streams, per-object timelines, per-user feeds with read/unread tracking,
milestones and a live WebSocket layer, for any application.

**Authentication**: every request carries `Authorization: Bearer <JWT>` with the claims
`sub` (user id), `tenant_id` and `roles`. `tidings token --tenant T --user U` mints a
development token. Another tenant's objects answer 404.

**Errors** are RFC 9457 `application/problem+json` with a machine `code`; validation
errors list each bad field in `errors[].loc`.

**Lists** have the DRF shape `{count, next, previous, results}` plus `next_cursor` for
keyset paging.
"""

TAGS = [
    {"name": "streams", "description": "Streams of events about host objects (seed 000)."},
    {"name": "events", "description": "Ingest for host back ends, single or batched."},
    {"name": "event types", "description": "Built-in and tenant event types with data schemas."},
    {
        "name": "activities",
        "description": "Per-object timelines and the company-wide activities list (CRM).",
    },
    {"name": "feed", "description": "Your activity feed with read/unread tracking (seed 002)."},
    {"name": "subscriptions", "description": "Streams you follow (seed 000)."},
    {"name": "milestones", "description": "Project milestones and dependencies (seed 000)."},
    {
        "name": "live",
        "description": "Presence over REST; the WebSocket protocol is in docs/websocket.md and "
        "/asyncapi.json.",
    },
    {"name": "admin", "description": "Retention policy and growth figures (admins)."},
    {"name": "operations", "description": "Liveness and readiness probes."},
]


class RequestContextMiddleware:
    """Binds a request id to every log line (honouring an incoming `X-Request-ID`), echoes it
    in the response, and refuses bodies over the configured size with a 413 problem."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        declared = headers.get(b"content-length")
        received = 0
        overflowed = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # The app sees a disconnect and stops reading; its answer is replaced.
                    overflowed = True
                    return {"type": "http.disconnect"}
            return message

        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if overflowed:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        started = time.perf_counter()
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            overflowed = True
        else:
            with contextlib.suppress(ClientDisconnect):
                await self.app(scope, limited_receive, send_with_id)
        if overflowed:
            overflowed = False
            await self._too_large(scope, receive, send_with_id)
        log.info(
            "request.completed",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "payload_too_large", f"request body exceeds {self.max_body_bytes} bytes"
        )
        await response(scope, receive, send)


def wire_live(app: FastAPI, settings: Settings) -> None:
    """The live layer's parts that need only Redis and the database (the hub, which also
    listens, starts with the lifespan)."""
    if getattr(app.state, "live", None) is None and app.state.redis is not None:
        app.state.live = LivePublisher.over(app.state.redis)
    if getattr(app.state, "presence", None) is None and app.state.redis is not None:
        app.state.presence = PresenceService(
            PresenceStore(app.state.redis), ttl_seconds=settings.presence_ttl_seconds
        )
    if getattr(app.state, "directory", None) is None and app.state.session_factory is not None:
        app.state.directory = StreamDirectory(app.state.session_factory)


def settle_garbage_collector() -> None:
    """What start-up built (modules, models, schemas, the route table) lives as long as the
    process: frozen out of the collector's reach, so a full collection walks only what
    requests made, and collections run less often. Full collections otherwise stall a
    request now and then for tens of milliseconds (the p99 of the hot reads)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
    redis: Redis | None = None,
) -> FastAPI:
    """Builds the app. Tests pass their own engine, session factory and Redis client;
    otherwise the lifespan opens them from settings and closes them on shutdown."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned: list[Any] = []
        if getattr(app.state, "engine", None) is None:
            app.state.engine = create_engine(settings)
            owned.append(app.state.engine)
            app.state.session_factory = create_session_factory(app.state.engine)
            app.state.reader = Reader(app.state.engine)
            install_admin(app, settings, app.state.session_factory, prepare_session(app))
        if getattr(app.state, "redis", None) is None:
            if settings.redis_url is None:
                raise RuntimeError("TIDINGS_REDIS_URL is not set and no embedded server is running")
            app.state.redis = Redis.from_url(settings.redis_url)
            owned.append(app.state.redis)
        if settings.fanout_mode is FanoutMode.async_:
            queue = await Queue.connect(settings)
            owned.append(queue)
            app.state.delivery = Delivery(FanoutMode.async_, queue.fan_out)
        wire_live(app, settings)
        hub = Hub(
            app.state.redis,
            settings,
            publisher=app.state.live,
            presence=app.state.presence,
            reader=app.state.reader,
            session_factory=app.state.session_factory,
        )
        await hub.start()
        app.state.hub = hub
        settle_garbage_collector()
        try:
            yield
        finally:
            await hub.stop()
            for resource in owned:
                if isinstance(resource, Redis):
                    await resource.aclose()
                elif isinstance(resource, Queue):
                    await resource.close()
                else:
                    await resource.dispose()

    app = FastAPI(
        title="Tidings",
        version="0.1.0",
        summary="Activity streams, timelines, feeds, milestones and live updates.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.verifier = TokenVerifier(settings)
    app.state.known_users = {}
    app.state.engine = engine
    app.state.session_factory = session_factory or (
        create_session_factory(engine) if engine is not None else None
    )
    # Hot reads come straight from the engine's pool, unless the app was given a session
    # factory of its own (the tests' rolled-back transaction), which they must see into.
    app.state.reader = (
        Reader(factory=session_factory)
        if session_factory is not None
        else Reader(engine)
        if engine is not None
        else None
    )
    app.state.redis = redis
    app.state.delivery = Delivery(FanoutMode.sync, chunk=settings.fanout_chunk_size)
    app.state.live = app.state.presence = app.state.directory = app.state.hub = None
    wire_live(app, settings)

    install_error_handlers(app)
    # Routes are matched in order, router by router: the hottest reads come first.
    for router in (
        health.router,
        feeds.router,
        subscriptions.router,
        activities.router,
        streams.router,
        events.router,
        event_types.router,
        milestones.router,
        presence.router,
        admin.router,
        ws_routes.router,
        demo.router,
        asyncapi.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if app.state.session_factory is not None:  # else the lifespan mounts it with its own
        install_admin(app, settings, app.state.session_factory, prepare_session(app))
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
