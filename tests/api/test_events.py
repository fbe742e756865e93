from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import Tokens
from tests.factories import record_event


async def test_first_event_for_an_object_creates_its_stream_once(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    first = await record_event(client, auth, object_type="crm.lead", object_id="L-1")
    second = await record_event(client, auth, object_type="crm.lead", object_id="L-1")
    assert first["stream"] == second["stream"] == "crm-lead-l-1"
    assert first["object_type"] == "crm.lead"
    assert first["object_id"] == "L-1"

    stream = (await client.get(f"/api/streams/{first['stream']}/", headers=auth)).json()
    assert stream["stream_type"] == "crm"
    assert stream["event_count"] == 2
    listed = await client.get(
        "/api/streams/", params={"object_type": "crm.lead", "object_id": "L-1"}, headers=auth
    )
    assert listed.json()["count"] == 1


async def test_summary_is_rendered_from_the_type_template(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    event = await record_event(client, auth, data={"text": "Follow up call scheduled"})
    assert event["summary"] == "Added note: Follow up call scheduled"
    assert event["event_type_display"] == "Note"
    explicit = await record_event(client, auth, summary="Custom words")
    assert explicit["summary"] == "Custom words"


async def test_retried_post_with_same_idempotency_key_returns_the_original(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    body = {
        "object_type": "order",
        "object_id": "7",
        "event_type": "order_paid",
        "data": {"amount": 10},
        "idempotency_key": "pay-7",
    }
    first = await client.post("/api/events/", json=body, headers=auth)
    retry = await client.post("/api/events/", json=body, headers=auth)
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    stream = (await client.get(f"/api/streams/{first.json()['stream']}/", headers=auth)).json()
    assert stream["event_count"] == 1


async def test_idempotency_keys_are_per_tenant(
    client: AsyncClient, auth: dict[str, str], outsider: dict[str, str]
) -> None:
    mine = await record_event(client, auth, idempotency_key="k1")
    theirs = await record_event(client, outsider, idempotency_key="k1")
    assert mine["id"] != theirs["id"]


async def test_system_event_has_no_actor(client: AsyncClient, auth: dict[str, str]) -> None:
    event = await record_event(
        client,
        auth,
        event_type="status_change",
        is_system_generated=True,
        data={"from_status": "negotiation", "to_status": "closed_won", "automated": True},
    )
    assert event["actor"] is None
    assert event["is_system_generated"] is True


async def test_service_token_records_on_behalf_of_a_user(
    client: AsyncClient, tokens: Tokens
) -> None:
    service = tokens.headers("crm-backend", roles=["service"])
    event = await record_event(client, service, actor_id="bob")
    assert event["actor"] == {"id": "bob", "email": None, "first_name": None, "last_name": None}
    # Bob signs in later; his events now carry his name.
    bob = tokens.headers("bob", email="bob@example.com", first_name="Bob")
    listed = await client.get(f"/api/streams/{event['stream']}/events/", headers=bob)
    assert listed.json()["results"][0]["actor"]["email"] == "bob@example.com"


async def test_plain_user_cannot_record_as_someone_else(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/events/",
        json={"object_type": "x", "object_id": "1", "event_type": "custom", "actor_id": "bob"},
        headers=auth,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_batch_records_all_in_order(client: AsyncClient, auth: dict[str, str]) -> None:
    events = [
        {
            "object_type": "project",
            "object_id": str(i % 7),
            "event_type": "note",
            "data": {"text": f"n{i}"},
        }
        for i in range(1000)
    ]
    response = await client.post("/api/events/batch/", json={"events": events}, headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["count"], body["created"], body["replayed"]) == (1000, 1000, 0)
    assert [r["data"]["text"] for r in body["results"]] == [f"n{i}" for i in range(1000)]
    streams = await client.get("/api/streams/", params={"object_type": "project"}, headers=auth)
    counts = sorted(s["event_count"] for s in streams.json()["results"])
    assert sum(counts) == 1000
    assert len(counts) == 7


async def test_batch_with_one_bad_item_records_nothing_and_names_it(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    events: list[dict[str, Any]] = [
        {"object_type": "project", "object_id": "p", "event_type": "note", "data": {"text": "ok"}}
        for _ in range(5)
    ]
    events[3]["data"] = {"mentions": ["@x"]}
    events[4]["event_type"] = "no_such_type"
    response = await client.post("/api/events/batch/", json={"events": events}, headers=auth)
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["errors"]]
    assert ["body", "events", 3, "data", "text"] in locs
    assert ["body", "events", 4, "event_type"] in locs
    streams = await client.get("/api/streams/", params={"object_type": "project"}, headers=auth)
    assert streams.json()["count"] == 0


async def test_batch_repeating_a_key_records_it_once(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    item = {"object_type": "o", "object_id": "1", "event_type": "custom", "idempotency_key": "dup"}
    response = await client.post("/api/events/batch/", json={"events": [item, item]}, headers=auth)
    body = response.json()
    assert body["results"][0]["id"] == body["results"][1]["id"]
    again = await client.post("/api/events/batch/", json={"events": [item]}, headers=auth)
    assert again.json()["replayed"] == 1
    assert again.json()["results"][0]["id"] == body["results"][0]["id"]


@pytest.mark.parametrize("size", [0, 1001])
async def test_batch_size_is_bounded(client: AsyncClient, auth: dict[str, str], size: int) -> None:
    item = {"object_type": "o", "object_id": "1", "event_type": "custom"}
    response = await client.post("/api/events/batch/", json={"events": [item] * size}, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "events"]


async def test_inactive_stream_refuses_events(client: AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post(
        "/api/streams/", json={"name": "Old", "is_active": False}, headers=auth
    )
    response = await client.post(
        f"/api/streams/{created.json()['slug']}/add_event/",
        json={"event_type": "custom"},
        headers=auth,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


async def test_key_reused_for_a_different_request_is_a_conflict(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    await record_event(client, auth, object_id="A", idempotency_key="k")
    response = await client.post(
        "/api/events/",
        json={
            "object_type": "crm.lead",
            "object_id": "B",
            "event_type": "note",
            "data": {"text": "Called the customer"},
            "idempotency_key": "k",
        },
        headers=auth,
    )
    assert response.status_code == 409
    assert response.json()["idempotency_key"] == "k"
    # Nothing was created for the refused request: object B has no stream.
    streams = await client.get("/api/streams/", params={"object_id": "B"}, headers=auth)
    assert streams.json()["count"] == 0


async def test_replay_does_not_touch_streams_or_counters(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    first = await record_event(client, auth, idempotency_key="once")
    for _ in range(3):
        await record_event(client, auth, idempotency_key="once")
    stream = (await client.get(f"/api/streams/{first['stream']}/", headers=auth)).json()
    assert stream["event_count"] == 1
