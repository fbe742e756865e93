from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Tokens

TIMELINE = "/api/v1/activities/timeline/"
SEED_001_EVENT_KEYS = {
    "id",
    "event_type",
    "actor",
    "object_type",
    "object_id",
    "data",
    "summary",
    "is_system_generated",
    "created_at",
    "updated_at",
}


async def post(client: AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {
        "object_type": "lead",
        "object_id": "L1",
        "event_type": "note",
        "data": {"text": "Called the customer"},
        **fields,
    }
    response = await client.post(TIMELINE, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def timeline(client: AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    query = {"object_type": "lead", "object_id": "L1", **params}
    response = await client.get(TIMELINE, params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_timeline_has_seed_001_shape_newest_first(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    await post(
        client,
        auth,
        occurred_at="2024-01-14T15:20:00Z",
        event_type="lead_converted",
        is_system_generated=True,
        data={"contact_id": "c1", "account_id": "a1", "converted_at": "2024-01-14T15:20:00Z"},
        summary="Lead converted to Contact: Jane Smith at Account: Acme Corp",
    )
    note = await post(
        client,
        auth,
        occurred_at="2024-01-15T10:30:00Z",
        data={"text": "Follow up call scheduled", "mentions": ["@jane"]},
    )
    assert SEED_001_EVENT_KEYS <= set(note)

    body = await timeline(client, auth)
    assert body["object"] == {"type": "lead", "id": "L1"}
    assert body["pagination"] == {"page": 1, "page_size": 50, "total": 2}
    first, second = body["events"]
    assert first["event_type"] == "note"
    assert first["summary"] == "Added note: Follow up call scheduled"
    assert first["created_at"] == "2024-01-15T10:30:00Z"
    assert first["actor"] == {
        "id": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
    }
    assert (first["object_type"], first["object_id"]) == ("lead", "L1")
    assert second["event_type"] == "lead_converted"
    assert second["actor"] is None
    assert second["is_system_generated"] is True


async def test_lead_and_crm_lead_name_the_same_object(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    await post(client, auth, object_type="lead")
    await post(client, auth, object_type="crm.lead")
    short = await timeline(client, auth, object_type="lead")
    qualified = await timeline(client, auth, object_type="crm.lead")
    assert short["pagination"]["total"] == qualified["pagination"]["total"] == 2
    assert qualified["events"][0]["object_type"] == "crm.lead"
    listed = (await client.get("/api/v1/activities/", headers=auth)).json()
    assert {r["related_to"]["type"] for r in listed["results"]} == {"crm.lead"}


async def test_timeline_filters(client: AsyncClient, tokens: Tokens, auth: dict[str, str]) -> None:
    bob = tokens.headers("bob", first_name="Bob")
    await post(client, auth, occurred_at="2024-03-01T09:00:00Z", data={"text": "Follow-up booked"})
    await post(
        client,
        bob,
        occurred_at="2024-03-02T09:00:00Z",
        event_type="call",
        data={"outcome": "no answer"},
    )
    await post(
        client,
        auth,
        occurred_at="2024-03-03T23:30:00Z",
        event_type="email",
        data={"subject": "Pricing"},
    )

    async def types(**params: Any) -> list[str]:
        return [e["event_type"] for e in (await timeline(client, auth, **params))["events"]]

    assert await types() == ["email", "call", "note"]
    assert await types(event_type="note,email") == ["email", "note"]
    assert await types(event_type=["call", "EMAIL"]) == ["email", "call"]
    assert await types(actor="bob") == ["call"]
    assert await types(date_from="2024-03-02") == ["email", "call"]
    assert await types(date_to="2024-03-02") == ["call", "note"]  # a date includes its day
    assert await types(date_from="2024-03-02T12:00:00Z", date_to="2024-03-03T12:00:00Z") == []
    # 23:30 UTC on the 3rd is the 4th in Tokyo
    assert await types(date_from="2024-03-04", tz="Asia/Tokyo") == ["email"]
    assert await types(q="follow") == ["note"]
    assert await types(q="follo") == ["note"]  # a word still being typed
    assert await types(q="answers") == ["call"]  # stemming
    hit = (await timeline(client, auth, q="pricing"))["events"][0]
    assert hit["headline"] == "Email: <b>Pricing</b> — <b>Pricing</b>"


async def test_timeline_cursor_and_numbered_pages(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    for n in range(5):
        await post(client, auth, data={"text": f"n{n}"}, occurred_at=f"2024-01-0{n + 1}T00:00:00Z")
    first = await timeline(client, auth, page_size=2)
    assert [e["data"]["text"] for e in first["events"]] == ["n4", "n3"]
    second = await timeline(client, auth, page_size=2, cursor=first["next_cursor"])
    assert [e["data"]["text"] for e in second["events"]] == ["n2", "n1"]
    third = await timeline(client, auth, page_size=2, page=3)
    assert [e["data"]["text"] for e in third["events"]] == ["n0"]
    assert third["pagination"] == {"page": 3, "page_size": 2, "total": 5}
    assert third["next_cursor"] is None


async def test_group_by_day_type_and_actor(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    await post(client, auth, occurred_at=now.isoformat())
    await post(
        client, auth, occurred_at=(now - timedelta(days=1)).isoformat(), event_type="call", data={}
    )
    await post(client, tokens.headers("bob"), occurred_at=(now - timedelta(days=40)).isoformat())

    by_day = await timeline(client, auth, group_by="day")
    labels = [(g["label"], g["count"]) for g in by_day["groups"]]
    assert labels[0] == ("Today", 1)
    assert labels[1] == ("Yesterday", 1)
    assert labels[-1] == ("Earlier", 1)
    assert sum(g["count"] for g in by_day["groups"]) == len(by_day["events"]) == 3

    by_type = await timeline(client, auth, group_by="type")
    assert [(g["key"], g["label"]) for g in by_type["groups"]] == [
        ("note", "Note"),
        ("call", "Call"),
    ]
    assert {g["key"]: g["count"] for g in by_type["groups"]} == {"note": 2, "call": 1}

    by_actor = await timeline(client, auth, group_by="actor")
    assert {g["label"]: g["count"] for g in by_actor["groups"]} == {"Alice Liddell": 2, "bob": 1}


async def test_author_edits_own_event_and_summary_follows(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    note = await post(client, auth, data={"text": "Call on Monday"})
    response = await client.patch(
        f"{TIMELINE}{note['id']}/", json={"data": {"text": "Call on Friday"}}, headers=auth
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["summary"] == "Added note: Call on Friday"
    assert edited["updated_at"] > note["updated_at"]
    assert edited["created_at"] == note["created_at"]
    shown = (await timeline(client, auth))["events"][0]
    assert shown["data"] == {"text": "Call on Friday"}
    found = await timeline(client, auth, q="friday")
    assert len(found["events"]) == 1

    other = await client.patch(
        f"{TIMELINE}{note['id']}/", json={"summary": "x"}, headers=tokens.headers("bob")
    )
    assert other.status_code == 403
    admin = await client.patch(
        f"{TIMELINE}{note['id']}/",
        json={"summary": "Moderated"},
        headers=tokens.headers("root", roles=["admin"]),
    )
    assert admin.status_code == 200
    assert admin.json()["summary"] == "Moderated"


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"data": {"mentions": "x"}}, 422, ["body", "data", "text"]),
        ({}, 422, ["body"]),
        ({"occurred_at": "2024-01-01T00:00:00Z"}, 422, ["body", "occurred_at"]),
        ({"status": "maybe"}, 422, ["body", "status"]),
    ],
)
async def test_bad_edits_are_refused(
    client: AsyncClient, auth: dict[str, str], body: dict[str, Any], status: int, where: list[Any]
) -> None:
    note = await post(client, auth)
    response = await client.patch(f"{TIMELINE}{note['id']}/", json=body, headers=auth)
    assert response.status_code == status
    assert any(e["loc"][: len(where)] == where for e in response.json()["errors"])


async def test_system_events_cannot_be_edited(client: AsyncClient, admin: dict[str, str]) -> None:
    event = await post(
        client,
        admin,
        event_type="status_change",
        is_system_generated=True,
        data={"from_status": "new", "to_status": "won"},
    )
    response = await client.patch(f"{TIMELINE}{event['id']}/", json={"summary": "x"}, headers=admin)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


async def test_soft_delete_hides_the_event_everywhere(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    keep = await post(client, auth, data={"text": "keep quartz"})
    gone = await post(client, auth, data={"text": "remove quartz"})
    assert (
        await client.delete(f"{TIMELINE}{gone['id']}/", headers=tokens.headers("bob"))
    ).status_code == 403
    response = await client.delete(f"{TIMELINE}{gone['id']}/", headers=auth)
    assert response.status_code == 204
    assert (await client.delete(f"{TIMELINE}{gone['id']}/", headers=auth)).status_code == 404

    assert [e["id"] for e in (await timeline(client, auth))["events"]] == [keep["id"]]
    assert (await timeline(client, auth))["pagination"]["total"] == 1
    stream = (await client.get("/api/streams/crm-lead-l1/", headers=auth)).json()
    assert stream["event_count"] == 1
    events = (await client.get("/api/streams/crm-lead-l1/events/", headers=auth)).json()
    assert [e["id"] for e in events["results"]] == [keep["id"]]
    search = (await client.get("/api/streams/search/", params={"q": "quartz"}, headers=auth)).json()
    assert [h["id"] for h in search["results"]] == [keep["id"]]
    listed = (await client.get("/api/v1/activities/", params={"q": "quartz"}, headers=auth)).json()
    assert [a["id"] for a in listed["results"]] == [keep["id"]]
    stats = (
        await client.get(
            "/api/v1/activities/stats/", params={"group": "activity_type"}, headers=auth
        )
    ).json()
    assert stats["results"] == [{"activity_type": "note", "count": 1, "user_count": 1}]
    patched = await client.patch(f"{TIMELINE}{gone['id']}/", json={"summary": "x"}, headers=auth)
    assert patched.status_code == 404


async def test_other_tenants_events_and_objects_are_not_found(
    client: AsyncClient, auth: dict[str, str], outsider: dict[str, str]
) -> None:
    note = await post(client, auth)
    assert (
        await client.get(
            TIMELINE, params={"object_type": "lead", "object_id": "L1"}, headers=outsider
        )
    ).status_code == 404
    assert (
        await client.patch(f"{TIMELINE}{note['id']}/", json={"summary": "x"}, headers=outsider)
    ).status_code == 404
    assert (await client.delete(f"{TIMELINE}{note['id']}/", headers=outsider)).status_code == 404
    listed = (await client.get("/api/v1/activities/", headers=outsider)).json()
    assert listed["count"] == 0
    summary = await client.get(
        "/api/v1/activities/summary/",
        params={"object_type": "lead", "object_id": "L1"},
        headers=outsider,
    )
    assert summary.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "not-a-date"}, "date_from"),
        ({"date_from": "2024-02-30"}, "date_from"),
        ({"event_type": "no_such_type"}, "event_type"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1000}, "page_size"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"group_by": "week"}, "group_by"),
        ({"date_from": "2024-03-02", "date_to": "2024-03-01"}, "date_to"),
        ({"object_type": ""}, "object_type"),
    ],
)
async def test_bad_timeline_parameters_are_422(
    client: AsyncClient, auth: dict[str, str], params: dict[str, Any], field: str
) -> None:
    await post(client, auth)
    query = {"object_type": "lead", "object_id": "L1", **params}
    response = await client.get(TIMELINE, params=query, headers=auth)
    assert response.status_code == 422, response.text
    assert any(e["loc"][:2] == ["query", field] for e in response.json()["errors"])


async def test_timeline_needs_its_object(client: AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(TIMELINE, params={"object_type": "lead"}, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "object_id"]
    unknown = await client.get(
        TIMELINE, params={"object_type": "lead", "object_id": "nobody"}, headers=auth
    )
    assert unknown.status_code == 404


async def test_unfiltered_timeline_total_comes_from_the_stream_counter(
    client: AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    await post(client, auth)
    await post(client, auth)
    # Skew the counter: an unfiltered timeline reports it (no rows counted), a filtered
    # one counts rows.
    await session.execute(text("UPDATE streams SET event_count = 7 WHERE slug = 'crm-lead-l1'"))
    assert (await timeline(client, auth))["pagination"]["total"] == 7
    assert (await timeline(client, auth, event_type="note"))["pagination"]["total"] == 2
