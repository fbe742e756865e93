from __future__ import annotations

from httpx import AsyncClient

from tests.factories import add_event, create_stream


async def test_client_creates_stream_adds_event_reads_it_back_and_finds_it(
    client: AsyncClient, auth: dict[str, str], outsider: dict[str, str]
) -> None:
    stream = await create_stream(client, auth, name="Riverside Tower")
    assert stream["slug"] == "riverside-tower"

    event = await add_event(
        client,
        auth,
        stream["slug"],
        event_type="PROJECT_UPDATED",
        importance="HIGH",
        description="Scaffolding inspection passed",
        metadata={"changed_fields": ["scope"]},
    )
    assert event["event_type"] == "project_updated"
    assert event["importance"] == "high"
    assert event["metadata"] == {"changed_fields": ["scope"]}
    assert event["actor"] == {
        "id": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
    }

    listed = await client.get(f"/api/streams/{stream['slug']}/events/", headers=auth)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["results"]] == [event["id"]]

    found = await client.get("/api/streams/search/", params={"q": "inspection"}, headers=auth)
    assert found.status_code == 200
    hits = found.json()["results"]
    assert [h["id"] for h in hits] == [event["id"]]
    assert "<b>inspection</b>" in hits[0]["headline"]

    for path in (f"/api/streams/{stream['slug']}/", f"/api/streams/{stream['slug']}/events/"):
        response = await client.get(path, headers=outsider)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    foreign = await client.get("/api/streams/search/", params={"q": "inspection"}, headers=outsider)
    assert foreign.json()["count"] == 0
    posted = await client.post(
        f"/api/streams/{stream['slug']}/add_event/",
        json={"event_type": "project_updated"},
        headers=outsider,
    )
    assert posted.status_code == 404


async def test_slugs_are_unique_per_tenant(
    client: AsyncClient, auth: dict[str, str], outsider: dict[str, str]
) -> None:
    first = await create_stream(client, auth, name="Same Name")
    second = await create_stream(client, auth, name="Same Name")
    other_tenant = await create_stream(client, outsider, name="Same Name")
    assert first["slug"] == "same-name" == other_tenant["slug"]
    assert second["slug"].startswith("same-name-")
    assert second["slug"] != first["slug"]
    taken = await client.post(
        "/api/streams/", json={"name": "X", "slug": "same-name"}, headers=auth
    )
    assert taken.status_code == 409


async def test_an_object_has_one_stream(client: AsyncClient, auth: dict[str, str]) -> None:
    await create_stream(client, auth, object_type="project", object_id="42")
    again = await client.post(
        "/api/streams/",
        json={"name": "Again", "object_type": "project", "object_id": "42"},
        headers=auth,
    )
    assert again.status_code == 409
    assert again.json()["slug"]


async def test_stream_list_filters(client: AsyncClient, auth: dict[str, str]) -> None:
    await create_stream(
        client, auth, name="P", stream_type="project", object_type="project", object_id="1"
    )
    await create_stream(client, auth, name="O", stream_type="order", is_active=False)
    await create_stream(client, auth, name="G", stream_type="general")

    async def names(**params: str | list[str]) -> list[str]:
        response = await client.get("/api/streams/", params=params, headers=auth)
        assert response.status_code == 200
        return sorted(s["name"] for s in response.json()["results"])

    assert await names() == ["G", "O", "P"]
    assert await names(stream_type="order") == ["O"]
    assert await names(is_active="false") == ["O"]
    assert await names(object_type="project", object_id="1") == ["P"]
    assert await names(object_id="2") == []


async def test_event_filters_narrow_the_stream(client: AsyncClient, auth: dict[str, str]) -> None:
    stream = await create_stream(client, auth)
    slug = stream["slug"]
    await add_event(
        client,
        auth,
        slug,
        event_type="project_created",
        importance="low",
        occurred_at="2026-01-05T10:00:00Z",
        metadata={"name": "A"},
    )
    await add_event(
        client,
        auth,
        slug,
        event_type="project_updated",
        importance="high",
        occurred_at="2026-02-05T10:00:00Z",
    )
    await add_event(
        client,
        auth,
        slug,
        event_type="milestone_completed",
        importance="critical",
        occurred_at="2026-03-05T10:00:00Z",
        metadata={"name": "M"},
    )

    async def types(**params: str | list[str]) -> list[str]:
        response = await client.get(f"/api/streams/{slug}/events/", params=params, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["results"])
        return [e["event_type"] for e in body["results"]]

    assert await types() == ["milestone_completed", "project_updated", "project_created"]
    assert await types(event_type="project_created,milestone_completed") == [
        "milestone_completed",
        "project_created",
    ]
    assert await types(event_type=["PROJECT_UPDATED"]) == ["project_updated"]
    assert await types(min_importance="high") == ["milestone_completed", "project_updated"]
    assert await types(since="2026-02-01T00:00:00Z") == ["milestone_completed", "project_updated"]
    assert await types(until="2026-02-01T00:00:00Z") == ["project_created"]
    assert await types(since="2026-02-01", until="2026-03-01") == ["project_updated"]


async def test_cursor_pages_walk_every_event_once(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    stream = await create_stream(client, auth)
    # Same timestamp for several events: the id breaks ties, nothing is skipped or repeated.
    for n in range(7):
        await add_event(
            client, auth, stream["slug"], occurred_at="2026-05-01T00:00:00Z", summary=f"e{n}"
        )
    seen: list[str] = []
    url: str | None = f"/api/streams/{stream['slug']}/events/?page_size=3"
    while url:
        body = (await client.get(url, headers=auth)).json()
        assert body["count"] == 7
        seen.extend(e["summary"] for e in body["results"])
        url = body["next"]
    assert sorted(seen) == [f"e{n}" for n in range(7)]
    assert len(seen) == 7


async def test_numbered_pages_link_both_ways(client: AsyncClient, auth: dict[str, str]) -> None:
    stream = await create_stream(client, auth)
    for n in range(5):
        await add_event(client, auth, stream["slug"], summary=f"e{n}")
    page2 = (
        await client.get(
            f"/api/streams/{stream['slug']}/events/",
            params={"page": 2, "page_size": 2},
            headers=auth,
        )
    ).json()
    assert [e["summary"] for e in page2["results"]] == ["e2", "e1"]
    assert "page=3" in page2["next"]
    assert "page=1" in page2["previous"]


async def test_search_ranks_and_narrows(client: AsyncClient, auth: dict[str, str]) -> None:
    a = await create_stream(client, auth, name="A")
    b = await create_stream(client, auth, name="B")
    await add_event(
        client,
        auth,
        a["slug"],
        summary="Roof inspection booked",
        description="inspection of the roof",
    )
    await add_event(
        client,
        auth,
        b["slug"],
        summary="Budget approved",
        description="after the roofing inspection",
    )
    await add_event(
        client, auth, b["slug"], event_type="note", metadata={"text": "inspections done"}
    )

    async def summaries(**params: str | list[str]) -> list[str]:
        response = await client.get("/api/streams/search/", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [h["summary"] for h in response.json()["results"]]

    everything = await summaries(q="inspection")
    assert everything[0] == "Roof inspection booked"  # matched in the summary: ranks first
    assert len(everything) == 3  # stemming: "inspections" in data matches too
    assert sorted(await summaries(q="inspection", stream=b["slug"])) == [
        "Added note: inspections done",
        "Budget approved",
    ]
    assert await summaries(q="inspection", event_type="note") == ["Added note: inspections done"]
    assert await summaries(q="inspection -roof") == ["Added note: inspections done"]
    missing = await client.get(
        "/api/streams/search/", params={"q": "x", "stream": "nope"}, headers=auth
    )
    assert missing.status_code == 404


async def test_search_headline_escapes_stored_text(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    stream = await create_stream(client, auth)
    await add_event(
        client, auth, stream["slug"], summary="invoice <script>alert(1)</script> sent & paid"
    )
    found = await client.get("/api/streams/search/", params={"q": "invoice"}, headers=auth)
    headline = found.json()["results"][0]["headline"]
    assert "<script>" not in headline
    assert "&amp; paid" in headline
    assert headline.startswith("<b>invoice</b>")
