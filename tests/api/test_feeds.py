from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Outbox
from app.schemas.feeds import FeedList, FeedSummaryRead, UnreadCountRead, UnreadCountsRead
from tests.conftest import Tokens
from tests.factories import add_event, create_stream, record_event

FEED = "/api/events/activity-feed/"
SEED_002_KEYS = {
    "id",
    "activity_type",
    "activity_type_display",
    "title",
    "description",
    "is_read",
    "read_at",
    "created_at",
    "age_display",
    "data",
    "target_type",
    "target_id",
}


async def subscribe(
    client: AsyncClient, headers: dict[str, str], slug: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(f"/api/streams/{slug}/subscribe/", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def feed(client: AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get(FEED, params=params, headers=headers)
    assert response.status_code == 200, response.text
    FeedList.model_validate_json(response.content)  # the documented shape, exactly
    return response.json()  # type: ignore[no-any-return]


async def test_subscribers_get_events_in_their_feed(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    bob = tokens.headers("bob")
    stream = await create_stream(client, auth, name="Site", object_type="project", object_id="9")
    sub = await subscribe(
        client,
        bob,
        stream["slug"],
        subscription_type="FOLLOW",
        min_importance="NORMAL",
        notify_email=True,
    )
    assert (sub["subscription_type"], sub["min_importance"], sub["notify_email"]) == (
        "follow",
        "normal",
        True,
    )
    event = await add_event(
        client,
        auth,
        stream["slug"],
        event_type="milestone_completed",
        metadata={"name": "Foundation"},
    )
    await add_event(client, auth, stream["slug"], importance="low", summary="minor")

    body = await feed(client, bob)
    assert body["count"] == 1
    item = body["results"][0]
    assert SEED_002_KEYS <= set(item)
    # an item is named by its event: one per user and event
    assert item["id"] == item["event_id"] == event["id"]
    assert item["stream_id"] == stream["id"]
    assert item["data"] == {"name": "Foundation"}
    assert item["activity_type"] == "milestone_completed"
    assert item["activity_type_display"] == "Milestone completed"
    assert item["title"] == "Milestone completed: Foundation"
    assert (item["is_read"], item["read_at"]) == (False, None)
    assert item["age_display"] == "just now"
    assert (item["target_type"], item["target_id"]) == ("project", "9")
    # the author did not subscribe: nothing in their feed
    assert (await feed(client, auth))["count"] == 0


async def test_subscribe_again_updates_and_counts_once(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    stream = await create_stream(client, auth)
    bob = tokens.headers("bob")
    first = await client.post(f"/api/streams/{stream['slug']}/subscribe/", json={}, headers=bob)
    again = await client.post(
        f"/api/streams/{stream['slug']}/subscribe/",
        json={"subscription_type": "watch"},
        headers=bob,
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    await subscribe(client, tokens.headers("carol"), stream["slug"])
    current = (await client.get(f"/api/streams/{stream['slug']}/", headers=auth)).json()
    assert current["subscriber_count"] == 2
    gone = await client.post(f"/api/streams/{stream['slug']}/unsubscribe/", headers=bob)
    assert gone.json() == {"message": "Unsubscribed", "updated_count": 1}
    twice = await client.post(f"/api/streams/{stream['slug']}/unsubscribe/", headers=bob)
    assert twice.json()["updated_count"] == 0
    current = (await client.get(f"/api/streams/{stream['slug']}/", headers=auth)).json()
    assert current["subscriber_count"] == 1


async def test_muted_subscribers_and_named_recipients(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    stream = await create_stream(client, auth)
    await subscribe(client, tokens.headers("muted"), stream["slug"], subscription_type="mute")
    await add_event(client, auth, stream["slug"], recipients=["dave", "erin"])
    assert (await feed(client, tokens.headers("muted")))["count"] == 0
    assert (await feed(client, tokens.headers("dave")))["count"] == 1
    assert (await feed(client, tokens.headers("erin")))["count"] == 1


async def test_mark_read_and_counts(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    stream = await create_stream(client, auth)
    bob = tokens.headers("bob")
    await subscribe(client, bob, stream["slug"])
    for n in range(4):
        await add_event(client, auth, stream["slug"], summary=f"e{n}")
    await add_event(client, auth, stream["slug"], event_type="note", metadata={"text": "n"})
    items = (await feed(client, bob))["results"]
    got = await client.get(f"{FEED}summary/", headers=bob)
    FeedSummaryRead.model_validate_json(got.content)
    summary = got.json()
    assert (summary["total_items"], summary["unread_count"], summary["read_count"]) == (5, 5, 0)
    assert summary["activity_types"] == {"note": 1, "project_updated": 4}
    assert len(summary["recent_activity"]) == 5

    ids = [items[0]["id"], items[1]["id"]]
    marked = await client.post(f"{FEED}mark-read/", json={"activity_ids": ids}, headers=bob)
    assert marked.json() == {"message": "Marked 2 items as read", "updated_count": 2}
    again = await client.post(f"{FEED}mark-read/", json={"activity_ids": ids}, headers=bob)
    assert again.json()["updated_count"] == 0
    # someone else's ids change nothing
    theirs = await client.post(
        f"{FEED}mark-read/", json={"activity_ids": [items[2]["id"]]}, headers=auth
    )
    assert theirs.json()["updated_count"] == 0

    assert (await feed(client, bob, is_read="false"))["count"] == 3
    assert (await feed(client, bob, is_read="true"))["count"] == 2
    assert (await feed(client, bob, activity_type="note"))["count"] == 1
    got = await client.get("/api/subscriptions/unread_counts/", headers=bob)
    UnreadCountsRead.model_validate_json(got.content)
    counts = got.json()
    assert counts["total_unread"] == 3
    badge = await client.get(f"{FEED}unread-count/", headers=bob)
    UnreadCountRead.model_validate_json(badge.content)
    assert badge.json() == {"unread_count": 3, "by_type": counts["by_type"]}
    assert sum(counts["by_type"].values()) == 3
    assert counts["subscriptions"][0]["unread_count"] == 3

    everything = await client.post(f"{FEED}mark-read/", json={"mark_all": True}, headers=bob)
    assert everything.json()["updated_count"] == 3
    summary = (await client.get(f"{FEED}summary/", headers=bob)).json()
    assert (summary["unread_count"], summary["read_count"]) == (0, 5)
    badge = (await client.get(f"{FEED}unread-count/", headers=bob)).json()
    assert badge == {"unread_count": 0, "by_type": {}}
    read = (await feed(client, bob))["results"][0]
    assert read["is_read"] is True
    assert read["read_at"] is not None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"mark_all": True, "activity_ids": []},
        {"activity_ids": ["not-a-uuid"]},
        {"activity_ids": [str(uuid.uuid4()) for _ in range(1001)]},
        {"mark_all": "yes please"},
    ],
)
async def test_bad_mark_read_bodies_are_422(
    client: AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post(f"{FEED}mark-read/", json=body, headers=auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_stream_mark_read_and_subscription_endpoints(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str], outsider: dict[str, str]
) -> None:
    bob = tokens.headers("bob")
    a = await create_stream(client, auth, name="A")
    b = await create_stream(client, auth, name="B")
    sub_a = await subscribe(client, bob, a["slug"])
    await subscribe(client, bob, b["slug"])
    await add_event(client, auth, a["slug"])
    await add_event(client, auth, b["slug"])

    marked = await client.post(f"/api/streams/{a['slug']}/mark_read/", headers=bob)
    assert marked.json()["updated_count"] == 1
    listed = (await client.get("/api/subscriptions/", headers=bob)).json()
    assert listed["count"] == 2
    unread = {s["stream"]: s["unread_count"] for s in listed["results"]}
    assert unread == {a["slug"]: 0, b["slug"]: 1}
    one = (await client.get(f"/api/subscriptions/{sub_a['id']}/", headers=bob)).json()
    assert one["last_read_at"] is not None
    by_id = await client.post(
        f"/api/subscriptions/{listed['results'][0]['id']}/mark_read/", headers=bob
    )
    assert by_id.status_code == 200

    dashboard = (await client.get("/api/subscriptions/dashboard/", headers=bob)).json()
    assert dashboard["subscription_count"] == 2
    assert dashboard["total_unread"] == 0
    assert len(dashboard["recent_events"]) == 2
    assert dashboard["assigned_milestones"] == []

    assert (
        await client.get(f"/api/subscriptions/{sub_a['id']}/", headers=outsider)
    ).status_code == 404
    assert (await client.get(f"/api/subscriptions/{sub_a['id']}/", headers=auth)).status_code == 404
    assert (
        await client.post(f"/api/streams/{a['slug']}/subscribe/", json={}, headers=outsider)
    ).status_code == 404


async def test_my_feed_follows_importance_and_mutes(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    bob = tokens.headers("bob")
    loud = await create_stream(client, auth, name="Loud")
    quiet = await create_stream(client, auth, name="Quiet")
    muted = await create_stream(client, auth, name="Muted")
    other = await create_stream(client, auth, name="Other")
    await subscribe(client, bob, loud["slug"])
    await subscribe(client, bob, quiet["slug"], min_importance="high")
    await subscribe(client, bob, muted["slug"], subscription_type="mute")
    await add_event(client, auth, loud["slug"], summary="loud low", importance="low")
    await add_event(client, auth, quiet["slug"], summary="quiet normal")
    await add_event(client, auth, quiet["slug"], summary="quiet critical", importance="critical")
    await add_event(client, auth, muted["slug"], summary="muted")
    await add_event(client, auth, other["slug"], summary="other")
    body = (await client.get("/api/streams/my_feed/", headers=bob)).json()
    assert [e["summary"] for e in body["results"]] == ["quiet critical", "loud low"]
    assert body["count"] == 2


async def test_bad_subscribe_bodies_are_422(client: AsyncClient, auth: dict[str, str]) -> None:
    stream = await create_stream(client, auth)
    for body in (
        {"subscription_type": "stalk"},
        {"min_importance": "vital"},
        {"notify_email": "often"},
        {"extra": 1},
    ):
        response = await client.post(
            f"/api/streams/{stream['slug']}/subscribe/", json=body, headers=auth
        )
        assert response.status_code == 422, body


async def test_notify_users_and_stream_subscribers(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str], admin: dict[str, str]
) -> None:
    service = tokens.headers("svc", roles=["service"])
    direct = await client.post(
        f"{FEED}notify/",
        json={
            "user_ids": ["ann", "ben"],
            "activity_type": "fast_reminder",
            "title": "Great Lent starts tomorrow",
            "data": {"fast_name": "Great Lent Fast"},
        },
        headers=service,
    )
    assert direct.status_code == 201, direct.text
    ann = (await feed(client, tokens.headers("ann")))["results"]
    assert [(i["activity_type"], i["title"]) for i in ann] == [
        ("fast_reminder", "Great Lent starts tomorrow")
    ]
    assert ann[0]["activity_type_display"] == "Fast Reminder"

    stream = await create_stream(client, auth)
    await subscribe(client, tokens.headers("cat"), stream["slug"])
    to_stream = await client.post(
        f"{FEED}notify/",
        json={
            "stream": stream["slug"],
            "activity_type": "devotional_available",
            "title": "New",
        },
        headers=admin,
    )
    assert to_stream.status_code == 201
    assert (await feed(client, tokens.headers("cat")))["count"] == 1

    plain = await client.post(
        f"{FEED}notify/",
        json={"user_ids": ["ann"], "activity_type": "event", "title": "x"},
        headers=auth,
    )
    assert plain.status_code == 403
    nobody = await client.post(
        f"{FEED}notify/", json={"activity_type": "event", "title": "x"}, headers=service
    )
    assert nobody.status_code == 422
    unknown = await client.post(
        f"{FEED}notify/",
        json={"user_ids": ["ann"], "activity_type": "nope", "title": "x"},
        headers=service,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "event_type"]
    missing = await client.post(
        f"{FEED}notify/",
        json={"stream": "no-such-stream", "activity_type": "event", "title": "x"},
        headers=service,
    )
    assert missing.status_code == 404


async def test_generate_backfills_followed_streams(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str], admin: dict[str, str]
) -> None:
    stream = await create_stream(client, auth)
    await add_event(client, auth, stream["slug"], summary="before")
    await add_event(
        client, auth, stream["slug"], summary="long ago", occurred_at="2020-01-01T00:00:00Z"
    )
    bob = tokens.headers("bob")
    await subscribe(client, bob, stream["slug"])
    assert (await feed(client, bob))["count"] == 0  # subscribed after the events

    response = await client.post(
        f"{FEED}generate/", json={"user_id": "bob", "days_back": 30}, headers=admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created_count"] == 1
    assert body["message"] == "Generated 1 activity feed items for user bob"
    assert set(body["date_range"]) == {"start", "end"}
    assert [i["title"] for i in (await feed(client, bob))["results"]] == ["before"]
    again = await client.post(
        f"{FEED}generate/", json={"user_id": "bob", "days_back": 30}, headers=admin
    )
    assert again.json()["created_count"] == 0
    summary = (await client.get(f"{FEED}summary/", headers=bob)).json()
    assert summary["unread_count"] == 1

    assert (
        await client.post(f"{FEED}generate/", json={"user_id": "bob"}, headers=bob)
    ).status_code == 403
    assert (
        await client.post(f"{FEED}generate/", json={"user_id": "ghost"}, headers=admin)
    ).status_code == 404
    assert (
        await client.post(
            f"{FEED}generate/", json={"user_id": "bob", "days_back": 0}, headers=admin
        )
    ).status_code == 422


async def test_unread_counts_per_subscription_type_and_named_recipient(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    bob = tokens.headers("bob")
    a = await create_stream(client, auth, name="A")
    b = await create_stream(client, auth, name="B")
    elsewhere = await create_stream(client, auth, name="Not followed")
    sub_a = await subscribe(client, bob, a["slug"])
    sub_b = await subscribe(client, bob, b["slug"])
    for _ in range(3):
        await add_event(client, auth, a["slug"])
    await add_event(client, auth, b["slug"], event_type="note", metadata={"text": "hi"})
    await add_event(client, auth, elsewhere["slug"], recipients=["bob"])

    counts = (await client.get("/api/subscriptions/unread_counts/", headers=bob)).json()
    assert counts["total_unread"] == 5  # the named-recipient item counts in the total
    assert counts["by_type"] == {"note": 1, "project_updated": 4}
    per = {s["id"]: s["unread_count"] for s in counts["subscriptions"]}
    assert per == {sub_a["id"]: 3, sub_b["id"]: 1}

    items = (await feed(client, bob))["results"]
    named = next(i["id"] for i in items if i["stream_id"] == elsewhere["id"])
    of_a = next(i["id"] for i in items if i["stream_id"] == a["id"])
    await client.post(f"{FEED}mark-read/", json={"activity_ids": [named, of_a]}, headers=bob)
    counts = (await client.get("/api/subscriptions/unread_counts/", headers=bob)).json()
    assert counts["total_unread"] == 3
    per = {s["id"]: s["unread_count"] for s in counts["subscriptions"]}
    assert per == {sub_a["id"]: 2, sub_b["id"]: 1}


async def test_feed_shows_the_event_as_edited_and_pages_by_cursor(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    bob = tokens.headers("bob")
    note = await record_event(client, auth, object_id="lead-7", data={"text": "Call on Monday"})
    stream_slug = note["stream"]
    await subscribe(client, bob, stream_slug)
    for n in range(4):
        await record_event(client, auth, object_id="lead-7", data={"text": f"n{n}"})
    edited = await client.patch(
        f"/api/v1/activities/timeline/{note['id']}/",
        json={"data": {"text": "Call on Friday"}},
        headers=auth,
    )
    assert edited.status_code == 200, edited.text
    await client.post(
        f"{FEED}generate/",
        json={"user_id": "bob", "days_back": 1},
        headers=tokens.headers("root", roles=["admin"]),
    )
    seen: list[dict[str, Any]] = []
    page = await feed(client, bob, page_size=2)
    while True:
        seen.extend(page["results"])
        if page["next_cursor"] is None:
            break
        page = await feed(client, bob, page_size=2, cursor=page["next_cursor"])
    assert len(seen) == 5 == len({i["id"] for i in seen})
    assert [i["created_at"] for i in seen] == sorted((i["created_at"] for i in seen), reverse=True)
    first = next(i for i in seen if i["id"] == note["id"])
    assert first["data"] == {"text": "Call on Friday"}
    assert first["title"] == "Added note: Call on Friday"
    assert (first["target_type"], first["target_id"]) == ("crm.lead", "lead-7")


async def test_a_batch_reaches_exactly_the_followers_and_settles_every_outbox_row(
    client: AsyncClient,
    tokens: Tokens,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A batch's events to streams nobody would receive them from are settled in one
    statement; the rest fan out as one event does: each recipient once, counted."""
    followed = await create_stream(client, auth, name="A", object_type="project", object_id="1")
    await create_stream(client, auth, name="B", object_type="project", object_id="2")
    muted = await create_stream(client, auth, name="C", object_type="project", object_id="3")
    await subscribe(client, tokens.headers("bob"), followed["slug"], min_importance="normal")
    await subscribe(client, tokens.headers("mo"), muted["slug"], subscription_type="mute")

    def item(object_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "object_type": "project",
            "object_id": object_id,
            "event_type": "note",
            "data": {"text": object_id},
            **extra,
        }

    events = [
        item("1"),
        item("2"),
        item("1", importance="low"),
        item("3"),
        item("2"),
        item("2", recipients=["erin"]),
        item("1"),
        item("3"),
        item("4"),
    ]
    response = await client.post("/api/events/batch/", json={"events": events}, headers=auth)
    assert response.status_code == 201, response.text

    assert (await feed(client, tokens.headers("bob")))["count"] == 2  # not the low one
    assert (await feed(client, tokens.headers("erin")))["count"] == 1  # named
    assert (await feed(client, tokens.headers("mo")))["count"] == 0
    badge = await client.get(f"{FEED}unread-count/", headers=tokens.headers("bob"))
    assert badge.json()["unread_count"] == 2
    async with session_factory() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.tenant_id == tokens.tenant, Outbox.processed_at.is_(None))
        )
    assert left == 0
