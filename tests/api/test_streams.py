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
