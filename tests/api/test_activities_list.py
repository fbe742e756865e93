from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.conftest import Tokens

LIST = "/api/v1/activities/"


async def seed(client: AsyncClient, tokens: Tokens) -> None:
    service = tokens.headers("crm", roles=["service"])
    await client.post(
        "/api/events/",
        json={
            "object_type": "crm.lead",
            "object_id": "L1",
            "stream_name": "Acme Corp",
            "event_type": "call",
            "data": {"subject": "Follow-up call"},
            "occurred_at": "2024-01-15T10:30:00Z",
            "assigned_to": "u-john",
            "status": "completed",
            "priority": "high",
        },
        headers=service,
    )
    await client.post(
        "/api/events/",
        json={
            "object_type": "crm.account",
            "object_id": "A1",
            "event_type": "meeting",
            "data": {"title": "Quarterly review"},
            "occurred_at": "2024-02-10T09:00:00Z",
            "assigned_to": "u-jane",
            "status": "planned",
            "priority": "medium",
        },
        headers=service,
    )
    await client.post(
        "/api/events/",
        json={
            "object_type": "crm.lead",
            "object_id": "L2",
            "event_type": "email",
            "data": {"subject": "Pricing sheet"},
            "occurred_at": "2024-03-05T12:00:00Z",
            "assigned_to": "u-john",
            "status": "completed",
            "priority": "low",
        },
        headers=service,
    )
    # John signs in once, so his name is known.
    await client.get(
        "/healthz", headers=tokens.headers("u-john", first_name="John", last_name="Doe")
    )
    await client.get(
        "/api/streams/", headers=tokens.headers("u-john", first_name="John", last_name="Doe")
    )


async def subjects(client: AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = await client.get(LIST, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["results"])
    return [r["subject"] for r in body["results"]]


async def test_results_have_seed_004_shape(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    await seed(client, tokens)
    body = (await client.get(LIST, params={"activity_type": "call"}, headers=auth)).json()
    assert set(body) >= {"count", "results"}
    result = body["results"][0]
    assert result["activity_type"] == "call"
    assert result["subject"] == "Follow-up call"
    assert result["activity_date"] == "2024-01-15T10:30:00Z"
    assert result["related_to"] == {"type": "crm.lead", "id": "L1", "name": "Acme Corp"}
    assert result["assigned_to"] == {"id": "u-john", "name": "John Doe"}
    assert (result["status"], result["priority"]) == ("completed", "high")


async def test_each_filter_narrows(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    await seed(client, tokens)
    everything = ["Pricing sheet", "Quarterly review", "Follow-up call"]
    assert await subjects(client, auth) == everything
    assert await subjects(client, auth, object_type="crm.lead") == [
        "Pricing sheet",
        "Follow-up call",
    ]
    assert await subjects(client, auth, object_type="lead", object_id="L2") == ["Pricing sheet"]
    assert await subjects(client, auth, object_id="A1") == ["Quarterly review"]
    assert await subjects(client, auth, activity_type="meeting,email") == [
        "Pricing sheet",
        "Quarterly review",
    ]
    assert await subjects(client, auth, date_from="2024-02-01") == [
        "Pricing sheet",
        "Quarterly review",
    ]
    assert await subjects(client, auth, date_to="2024-02-10") == [
        "Quarterly review",
        "Follow-up call",
    ]
    assert await subjects(client, auth, assigned_to="u-john") == ["Pricing sheet", "Follow-up call"]
    assert await subjects(client, auth, status="planned") == ["Quarterly review"]
    assert await subjects(client, auth, priority="low") == ["Pricing sheet"]
    assert await subjects(client, auth, q="pricing") == ["Pricing sheet"]
    assert await subjects(client, auth, q="quarter") == ["Quarterly review"]
    assert await subjects(
        client, auth, assigned_to="u-john", status="completed", priority="high"
    ) == ["Follow-up call"]


async def test_search_results_are_ranked_and_highlighted(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    await seed(client, tokens)
    body = (await client.get(LIST, params={"q": "follow"}, headers=auth)).json()
    assert [r["subject"] for r in body["results"]] == ["Follow-up call"]
    assert "<b>Follow</b>" in body["results"][0]["headline"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"activity_type": "nope"}, "activity_type"),
        ({"date_to": "31/01/2024"}, "date_to"),
        ({"status": "someday"}, "status"),
        ({"priority": "extreme"}, "priority"),
        ({"page_size": 101}, "page_size"),
        ({"q": ""}, "q"),
    ],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, auth: dict[str, str], params: dict[str, Any], field: str
) -> None:
    response = await client.get(LIST, params=params, headers=auth)
    assert response.status_code == 422
    assert any(e["loc"][:2] == ["query", field] for e in response.json()["errors"])


async def test_summary_counts_types_over_the_period(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    for days_ago, event_type, data in [
        (1, "call", {}),
        (2, "call", {}),
        (3, "email", {"subject": "s"}),
        (20, "note", {"text": "old"}),
    ]:
        response = await client.post(
            "/api/v1/activities/timeline/",
            json={
                "object_type": "lead",
                "object_id": "S1",
                "event_type": event_type,
                "data": data,
                "occurred_at": (now - timedelta(days=days_ago)).isoformat(),
            },
            headers=auth,
        )
        assert response.status_code == 201

    async def summary(period: str) -> dict[str, Any]:
        response = await client.get(
            "/api/v1/activities/summary/",
            params={"object_type": "lead", "object_id": "S1", "period": period},
            headers=auth,
        )
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        assert body["event_type"] == "activity_summary"
        return body["data"]  # type: ignore[no-any-return]

    assert await summary("last_7_days") == {
        "period": "last_7_days",
        "call_count": 2,
        "email_count": 1,
        "total_count": 3,
    }
    assert (await summary("last_30_days"))["note_count"] == 1
    bad = await client.get(
        "/api/v1/activities/summary/",
        params={"object_type": "lead", "object_id": "S1", "period": "forever"},
        headers=auth,
    )
    assert bad.status_code == 422


async def test_stats_group_counts_and_distinct_users(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    await seed(client, tokens)
    params = {"date_from": "2024-01-01", "date_to": "2024-03-31"}
    by_status = (
        await client.get(
            "/api/v1/activities/stats/", params={**params, "group": "status"}, headers=auth
        )
    ).json()
    assert by_status["results"] == [
        {"status": "completed", "count": 2, "user_count": 1},
        {"status": "planned", "count": 1, "user_count": 1},
    ]
    full = (await client.get("/api/v1/activities/stats/", params=params, headers=auth)).json()
    assert full["group"] == ["day", "activity_type", "status"]
    assert {
        "day": "2024-01-15",
        "activity_type": "call",
        "status": "completed",
        "count": 1,
        "user_count": 1,
    } in full["results"]
    total = (
        await client.get(
            "/api/v1/activities/stats/",
            params={**params, "group": "status"},
            headers=tokens.headers("other", tenant="elsewhere"),
        )
    ).json()
    assert total["results"] == []


async def test_stats_follow_edits(client: AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post(
        "/api/v1/activities/timeline/",
        json={
            "object_type": "lead",
            "object_id": "E1",
            "event_type": "task",
            "data": {"title": "t"},
            "status": "planned",
            "occurred_at": "2024-05-05T10:00:00Z",
        },
        headers=auth,
    )
    event_id = created.json()["id"]
    await client.patch(
        f"/api/v1/activities/timeline/{event_id}/", json={"status": "completed"}, headers=auth
    )
    stats = (
        await client.get(
            "/api/v1/activities/stats/",
            params={"date_from": "2024-05-01", "date_to": "2024-05-31", "group": "status"},
            headers=auth,
        )
    ).json()
    assert stats["results"] == [{"status": "completed", "count": 1, "user_count": 1}]


@pytest.mark.parametrize(
    "params",
    [
        {"group": "week"},
        {"date_from": "2024-02-01", "date_to": "2024-01-01"},
        {"date_from": "1990-01-01", "date_to": "2024-01-01"},
        {"date_from": "x"},
    ],
)
async def test_bad_stats_parameters_are_422(
    client: AsyncClient, auth: dict[str, str], params: dict[str, str]
) -> None:
    response = await client.get("/api/v1/activities/stats/", params=params, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][0] == "query"
