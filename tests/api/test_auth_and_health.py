from __future__ import annotations

from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from app.settings import Settings
from tests.conftest import Tokens


async def test_missing_token_is_401_with_challenge(client: AsyncClient) -> None:
    response = await client.get("/api/streams/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_bad_token_is_401_invalid_token(client: AsyncClient) -> None:
    response = await client.get("/api/streams/", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["code"] == "invalid_token"


async def test_user_is_mirrored_and_later_claims_update_it(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    stream = (await client.post("/api/streams/", json={"name": "S"}, headers=auth)).json()
    renamed = tokens.headers("alice", email="alice@new.example", first_name="Alicia")
    event = await client.post(
        f"/api/streams/{stream['slug']}/add_event/", json={"event_type": "custom"}, headers=renamed
    )
    assert event.json()["actor"]["email"] == "alice@new.example"
    # A token without name claims keeps what is known.
    bare = tokens.headers("alice")
    listed = await client.get(f"/api/streams/{stream['slug']}/events/", headers=bare)
    assert listed.json()["results"][0]["actor"] == {
        "id": "alice",
        "email": "alice@new.example",
        "first_name": "Alicia",
        "last_name": "Liddell",
    }


async def test_healthz_and_readyz(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_readyz_is_503_when_redis_is_unreachable(
    settings: Settings, engine: AsyncEngine
) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    app = create_app(settings, engine=engine, redis=dead)
    async with AsyncClient(transport=ASGITransport(app), base_url="http://test") as client:
        response = await client.get("/readyz")
    await dead.aclose()
    assert response.status_code == 503
    assert response.json()["redis"] == "unavailable"
    assert response.json()["database"] == "ok"


async def test_request_id_is_echoed(client: AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32


async def test_openapi_documents_every_route_with_tags(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in (
        "/api/streams/",
        "/api/streams/{slug}/add_event/",
        "/api/events/batch/",
        "/api/event-types/",
        "/api/streams/search/",
        "/readyz",
    ):
        for operation in spec["paths"][path].values():
            assert operation["tags"]
            assert operation["summary"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
