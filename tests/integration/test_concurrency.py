"""Real commits from concurrent requests: counters and idempotency hold under races."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import Event, Stream
from tests.conftest import Tokens


async def test_event_count_stays_exact_under_concurrent_posts(
    committed_client: AsyncClient, tokens: Tokens, engine: AsyncEngine
) -> None:
    headers = tokens.headers("alice")
    created = await committed_client.post("/api/streams/", json={"name": "Hot"}, headers=headers)
    slug = created.json()["slug"]

    async def post(n: int) -> int:
        response = await committed_client.post(
            f"/api/streams/{slug}/add_event/",
            json={"event_type": "custom", "summary": f"e{n}"},
            headers=headers,
        )
        return response.status_code

    statuses = await asyncio.gather(*(post(n) for n in range(40)))
    assert statuses == [201] * 40
    async with engine.connect() as conn:
        stream_id, count = (
            await conn.execute(
                select(Stream.id, Stream.event_count).where(
                    Stream.tenant_id == tokens.tenant, Stream.slug == slug
                )
            )
        ).one()
        rows = await conn.scalar(select(func.count()).where(Event.stream_id == stream_id))
    assert count == rows == 40


async def test_concurrent_retries_with_one_key_record_one_event(
    committed_client: AsyncClient, tokens: Tokens, engine: AsyncEngine
) -> None:
    headers = tokens.headers("svc", roles=["service"])
    body = {
        "object_type": "order",
        "object_id": "9",
        "event_type": "order_paid",
        "idempotency_key": "pay-9",
    }
    responses = await asyncio.gather(
        *(committed_client.post("/api/events/", json=body, headers=headers) for _ in range(12))
    )
    assert sorted(r.status_code for r in responses) == [200] * 11 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with engine.connect() as conn:
        total = await conn.scalar(
            select(func.count()).select_from(Event).where(Event.tenant_id == tokens.tenant)
        )
    assert total == 1


async def test_concurrent_first_posts_for_one_object_share_its_stream(
    committed_client: AsyncClient, tokens: Tokens, engine: AsyncEngine
) -> None:
    headers = tokens.headers("alice")
    body = {"object_type": "crm.lead", "object_id": "new", "event_type": "custom"}
    responses = await asyncio.gather(
        *(committed_client.post("/api/events/", json=body, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["stream"] for r in responses}) == 1
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(Stream.event_count).where(
                Stream.tenant_id == tokens.tenant, Stream.object_id == "new"
            )
        )
    assert count == 10


async def test_overlapping_batches_do_not_deadlock(
    committed_client: AsyncClient, tokens: Tokens
) -> None:
    headers = tokens.headers("svc", roles=["service"])
    objects = [str(n) for n in range(6)]
    # First create the streams, then race batches that touch them in opposite orders.
    warm = [{"object_type": "project", "object_id": o, "event_type": "custom"} for o in objects]
    assert (
        await committed_client.post("/api/events/batch/", json={"events": warm}, headers=headers)
    ).status_code == 201

    def batch(order: list[str]) -> dict[str, object]:
        return {
            "events": [
                {"object_type": "project", "object_id": o, "event_type": "custom"}
                for o in order * 5
            ]
        }

    responses = await asyncio.gather(
        *(
            committed_client.post(
                "/api/events/batch/",
                json=batch(objects if n % 2 else objects[::-1]),
                headers=headers,
            )
            for n in range(8)
        )
    )
    assert [r.status_code for r in responses] == [201] * 8
    listed = await committed_client.get(
        "/api/streams/", params={"object_type": "project"}, headers=headers
    )
    assert sum(s["event_count"] for s in listed.json()["results"]) == 6 + 8 * 30


async def test_batches_sharing_keys_in_opposite_orders_do_not_deadlock(
    committed_client: AsyncClient, tokens: Tokens, engine: AsyncEngine
) -> None:
    headers = tokens.headers("svc", roles=["service"])
    items = [
        {
            "object_type": "lead",
            "object_id": str(n),
            "event_type": "custom",
            "idempotency_key": f"k{n}",
        }
        for n in range(20)
    ]
    responses = await asyncio.gather(
        *(
            committed_client.post(
                "/api/events/batch/",
                json={"events": items if n % 2 else items[::-1]},
                headers=headers,
            )
            for n in range(6)
        )
    )
    assert [r.status_code for r in responses] == [201] * 6
    assert sum(r.json()["created"] for r in responses) == 20
    async with engine.connect() as conn:
        total = await conn.scalar(
            select(func.count()).select_from(Event).where(Event.tenant_id == tokens.tenant)
        )
    assert total == 20
