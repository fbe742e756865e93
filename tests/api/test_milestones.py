from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import icalendar
import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.milestones import milestone_service
from tests.conftest import Tokens

M = "/api/milestones/"


async def create(client: AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"project_id": "42", "name": "Foundation", **fields}
    response = await client.post(M, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def act(client: AsyncClient, headers: dict[str, str], mid: str, action: str) -> Any:
    if action == "progress":
        return await client.post(
            f"{M}{mid}/update_progress/", json={"progress": 40}, headers=headers
        )
    if action in ("on_hold", "cancelled", "planned"):
        return await client.patch(f"{M}{mid}/", json={"status": action}, headers=headers)
    if action == "edit":
        return await client.patch(f"{M}{mid}/", json={"name": "Renamed"}, headers=headers)
    return await client.post(f"{M}{mid}/{action}/", headers=headers)


async def test_create_makes_a_stream_and_records_events(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    milestone = await create(
        client,
        auth,
        priority="HIGH",
        budget="50000.00",
        actual_cost="12000.50",
        planned_start_date="2026-03-01",
        planned_end_date="2026-04-15",
        assigned_to="alice",
    )
    assert milestone["priority"] == "high"
    assert milestone["status"] == "planned"
    assert milestone["variance"] == "37999.50"
    events = (await client.get(f"/api/streams/{milestone['stream']}/events/", headers=auth)).json()
    assert [e["event_type"] for e in events["results"]] == ["milestone_created"]
    project = (
        await client.get(
            "/api/v1/activities/timeline/",
            params={"object_type": "project", "object_id": "42"},
            headers=auth,
        )
    ).json()
    assert [e["event_type"] for e in project["events"]] == ["milestone_created"]


STATES = ["planned", "in_progress", "on_hold", "completed", "cancelled"]
ACTIONS = ["start", "complete", "progress", "on_hold", "cancelled", "planned", "edit"]
# status -> actions that succeed from it (setting the current status again is a no-op edit)
ALLOWED = {
    "planned": {"start", "complete", "progress", "on_hold", "cancelled", "planned", "edit"},
    "in_progress": {"complete", "progress", "on_hold", "cancelled", "edit"},
    "on_hold": {"start", "complete", "progress", "on_hold", "cancelled", "planned", "edit"},
    "completed": set(),
    "cancelled": set(),
}
ROUTE = {  # how to reach each status from planned
    "planned": [],
    "in_progress": ["start"],
    "on_hold": ["on_hold"],
    "completed": ["complete"],
    "cancelled": ["cancelled"],
}


@pytest.mark.parametrize("state", STATES)
async def test_every_action_from_every_status(
    client: AsyncClient, auth: dict[str, str], state: str
) -> None:
    for action in ACTIONS:
        milestone = await create(client, auth, name=f"{state}-{action}", assigned_to="alice")
        for step in ROUTE[state]:
            assert (await act(client, auth, milestone["id"], step)).status_code == 200
        response = await act(client, auth, milestone["id"], action)
        expected = 200 if action in ALLOWED[state] else 409
        assert response.status_code == expected, (state, action, response.text)
        if expected == 409:
            assert response.json()["code"] == "invalid_state"


async def test_start_waits_for_dependencies_and_complete_sets_dates(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    base = await create(client, auth, name="Site")
    top = await create(client, auth, name="Structure", depends_on=[base["id"]])
    blocked = await client.post(f"{M}{top['id']}/start/", headers=auth)
    assert blocked.status_code == 409
    assert blocked.json()["blockers"] == [{"id": base["id"], "name": "Site", "status": "planned"}]
    early = await client.post(f"{M}{top['id']}/complete/", headers=auth)
    assert early.status_code == 409
    assert [b["name"] for b in early.json()["blockers"]] == ["Site"]
    done = (await client.post(f"{M}{base['id']}/complete/", headers=auth)).json()
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["actual_end_date"] is not None
    started = (await client.post(f"{M}{top['id']}/start/", headers=auth)).json()
    assert started["status"] == "in_progress"
    assert started["actual_start_date"] is not None


async def test_cycles_of_every_length_are_refused_with_the_cycle(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    a, b, c, d = [await create(client, auth, name=n) for n in "ABCD"]
    self_loop = await client.post(
        f"{M}{a['id']}/dependencies/", json={"depends_on": a["id"]}, headers=auth
    )
    assert self_loop.status_code == 409
    assert self_loop.json()["cycle"] == [a["id"], a["id"]]
    assert (
        await client.post(f"{M}{b['id']}/dependencies/", json={"depends_on": a["id"]}, headers=auth)
    ).status_code == 200
    two = await client.post(
        f"{M}{a['id']}/dependencies/", json={"depends_on": b["id"]}, headers=auth
    )
    assert two.status_code == 409
    assert two.json()["cycle"] == [a["id"], b["id"], a["id"]]
    for x, y in ((c, b), (d, c)):
        assert (
            await client.post(
                f"{M}{x['id']}/dependencies/", json={"depends_on": y["id"]}, headers=auth
            )
        ).status_code == 200
    long = await client.post(
        f"{M}{a['id']}/dependencies/", json={"depends_on": d["id"]}, headers=auth
    )
    assert long.status_code == 409
    assert long.json()["cycle"] == [a["id"], d["id"], c["id"], b["id"], a["id"]]
    removed = await client.delete(
        f"{M}{b['id']}/dependencies/", params={"depends_on": a["id"]}, headers=auth
    )
    assert removed.json()["depends_on"] == []
    assert (
        await client.post(f"{M}{a['id']}/dependencies/", json={"depends_on": d["id"]}, headers=auth)
    ).status_code == 200


async def test_concurrent_dependencies_closing_a_cycle_only_one_wins(
    committed_client: AsyncClient, tokens: Tokens
) -> None:
    headers = tokens.headers("alice")
    a = await create(committed_client, headers, name="A")
    b = await create(committed_client, headers, name="B")
    results = await asyncio.gather(
        committed_client.post(
            f"{M}{a['id']}/dependencies/", json={"depends_on": b["id"]}, headers=headers
        ),
        committed_client.post(
            f"{M}{b['id']}/dependencies/", json={"depends_on": a["id"]}, headers=headers
        ),
    )
    assert sorted(r.status_code for r in results) == [200, 409]


async def test_dependencies_stay_in_the_project_and_tenant(
    client: AsyncClient, auth: dict[str, str], outsider: dict[str, str]
) -> None:
    a = await create(client, auth, name="A")
    other = await create(client, auth, name="Other", project_id="43")
    cross = await client.post(
        f"{M}{a['id']}/dependencies/", json={"depends_on": other["id"]}, headers=auth
    )
    assert cross.status_code == 422
    foreign = await create(client, outsider, name="Theirs")
    hidden = await client.post(
        f"{M}{a['id']}/dependencies/", json={"depends_on": foreign["id"]}, headers=auth
    )
    assert hidden.status_code == 404
    assert (await client.get(f"{M}{a['id']}/", headers=outsider)).status_code == 404
    assert (await client.post(f"{M}{a['id']}/start/", headers=outsider)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"planned_start_date": "2026-05-01", "planned_end_date": "2026-04-01"}, "body"),
        ({"budget": "-1"}, "budget"),
        ({"budget": "1.001"}, "budget"),
        ({"priority": "urgent"}, "priority"),
        ({"assigned_to": "nobody-we-know"}, "assigned_to"),
        ({"name": ""}, "name"),
        ({"project_id": ""}, "project_id"),
    ],
)
async def test_bad_milestones_are_422(
    client: AsyncClient, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(M, json={"project_id": "42", "name": "x", **body}, headers=auth)
    assert response.status_code == 422, response.text
    assert any(field in e["loc"] for e in response.json()["errors"])


@pytest.mark.parametrize("progress", [-1, 101, "half"])
async def test_progress_must_be_0_to_100(
    client: AsyncClient, auth: dict[str, str], progress: Any
) -> None:
    milestone = await create(client, auth)
    response = await client.post(
        f"{M}{milestone['id']}/update_progress/", json={"progress": progress}, headers=auth
    )
    assert response.status_code == 422


async def test_comments_thread_and_authors_edit(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    milestone = await create(client, auth)
    first = (
        await client.post(
            f"{M}{milestone['id']}/add_comment/", json={"content": "Good progress"}, headers=auth
        )
    ).json()
    bob = tokens.headers("bob")
    reply = await client.post(
        f"{M}{milestone['id']}/add_comment/",
        json={"content": "Need help?", "parent": first["id"]},
        headers=bob,
    )
    assert reply.status_code == 201
    thread = (await client.get(f"{M}{milestone['id']}/comments/", headers=auth)).json()
    assert [c["content"] for c in thread] == ["Good progress"]
    assert [r["content"] for r in thread[0]["replies"]] == ["Need help?"]
    edited = await client.patch(
        f"{M}{milestone['id']}/comments/{first['id']}/",
        json={"content": "Great progress"},
        headers=auth,
    )
    assert edited.json()["is_edited"] is True
    assert (
        await client.patch(
            f"{M}{milestone['id']}/comments/{first['id']}/", json={"content": "x"}, headers=bob
        )
    ).status_code == 403
    bad_parent = await client.post(
        f"{M}{milestone['id']}/add_comment/",
        json={"content": "x", "parent": milestone["id"]},
        headers=auth,
    )
    assert bad_parent.status_code == 422


async def test_project_timeline_and_dashboards(client: AsyncClient, auth: dict[str, str]) -> None:
    short = await create(
        client,
        auth,
        name="Short",
        planned_start_date="2026-01-01",
        planned_end_date="2026-01-10",
        budget="100",
        assigned_to="alice",
    )
    await create(
        client,
        auth,
        name="Long",
        planned_start_date="2026-01-11",
        planned_end_date="2026-02-09",
        budget="300",
        actual_cost="50",
    )
    await client.post(f"{M}{short['id']}/complete/", headers=auth)
    timeline = (await client.get(f"{M}{short['id']}/timeline/", headers=auth)).json()
    assert [m["name"] for m in timeline["milestones"]] == ["Short", "Long"]
    assert timeline["statistics"] == {"completed": 1, "planned": 1}
    assert timeline["overall_progress"] == 25.0  # 10 days done of 40
    assert (timeline["budget_total"], timeline["actual_cost_total"]) == ("400.00", "50.00")
    mine = (await client.get(f"{M}my_milestones/", headers=auth)).json()
    assert [m["name"] for m in mine["results"]] == ["Short"]
    dash = (await client.get("/api/subscriptions/dashboard/", headers=auth)).json()
    assert [m["name"] for m in dash["assigned_milestones"]] == ["Short"]
    listed = (await client.get(M, params={"status": "planned"}, headers=auth)).json()
    assert [m["name"] for m in listed["results"]] == ["Long"]


async def test_delete_follows_the_rules(
    client: AsyncClient, tokens: Tokens, auth: dict[str, str]
) -> None:
    base = await create(client, auth, name="Base")
    await create(client, auth, name="Top", depends_on=[base["id"]])
    assert (
        await client.delete(f"{M}{base['id']}/", headers=tokens.headers("bob"))
    ).status_code == 403
    blocked = await client.delete(f"{M}{base['id']}/", headers=auth)
    assert blocked.status_code == 409
    lone = await create(client, auth, name="Lone")
    assert (await client.delete(f"{M}{lone['id']}/", headers=auth)).status_code == 204
    assert (await client.get(f"{M}{lone['id']}/", headers=auth)).status_code == 404


async def test_critical_path_gantt_and_calendar(client: AsyncClient, auth: dict[str, str]) -> None:
    def plan(name: str, start: str, end: str, deps: list[str] | None = None) -> dict[str, Any]:
        return {
            "project_id": "cpm",
            "name": name,
            "planned_start_date": start,
            "planned_end_date": end,
            "depends_on": deps or [],
        }

    a = await create(client, auth, **plan("A", "2030-03-01", "2030-03-05"))
    b = await create(client, auth, **plan("B", "2030-03-06", "2030-03-10", [a["id"]]))
    c = await create(client, auth, **plan("C", "2030-03-06", "2030-03-08", [a["id"]]))
    d = await create(client, auth, **plan("D", "2030-03-11", "2030-03-12", [b["id"], c["id"]]))
    loose = await create(client, auth, project_id="cpm", name="Someday")

    cpm = (
        await client.get(f"{M}critical_path/", params={"project_id": "cpm"}, headers=auth)
    ).json()
    assert cpm["critical_path"] == [a["id"], b["id"], d["id"]]
    assert cpm["projected_end"] == cpm["deadline"] == "2030-03-12"
    assert cpm["unscheduled"] == [loose["id"]]
    floats = {m["name"]: m["total_float"] for m in cpm["milestones"]}
    assert floats == {"A": 0, "B": 0, "C": 2, "D": 0}

    gantt = (await client.get(f"{M}gantt/", params={"project_id": "cpm"}, headers=auth)).json()
    rows = {r["name"]: r for r in gantt["rows"]}
    assert (rows["C"]["start"], rows["C"]["end"], rows["C"]["critical"]) == (
        "2030-03-06",
        "2030-03-08",
        False,
    )
    assert set(rows["D"]["depends_on"]) == {b["id"], c["id"]}
    assert rows["Someday"]["start"] is None

    ics = await client.get(f"{M}calendar.ics", params={"project_id": "cpm"}, headers=auth)
    assert ics.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(ics.content)
    events = {str(e["summary"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {"A", "B", "C", "D"}
    assert events["A"].decoded("dtstart") == date(2030, 3, 1)
    assert events["A"].decoded("dtend") == date(2030, 3, 6)  # exclusive end

    missing = await client.get(f"{M}critical_path/", params={"project_id": "nope"}, headers=auth)
    assert missing.status_code == 404


async def test_overdue_is_decided_in_the_tenants_time_zone_and_announced_once(
    client: AsyncClient, auth: dict[str, str], session: AsyncSession, tenant: str
) -> None:
    milestone = await create(
        client, auth, name="Due", planned_start_date="2026-05-01", planned_end_date="2026-05-10"
    )
    await session.execute(
        text("UPDATE tenants SET time_zone = 'Asia/Tokyo' WHERE id = :t"), {"t": tenant}
    )
    # 23:30 UTC on the 10th: still the 10th in UTC, already the 11th in Tokyo.
    before_midnight_utc = datetime(2026, 5, 10, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    after_midnight_tokyo = datetime(2026, 5, 10, 15, 30, tzinfo=UTC)  # 00:30 on the 11th
    assert await milestone_service.mark_overdue(session, now=before_midnight_utc) == 0
    assert await milestone_service.mark_overdue(session, now=after_midnight_tokyo) == 1
    assert await milestone_service.mark_overdue(session, now=after_midnight_tokyo) == 0
    events = (await client.get(f"/api/streams/{milestone['stream']}/events/", headers=auth)).json()
    overdue = [e for e in events["results"] if e["event_type"] == "milestone_overdue"]
    assert len(overdue) == 1
    assert overdue[0]["is_system_generated"] is True
    assert overdue[0]["actor"] is None
    listed = (await client.get(M, params={"overdue": "true"}, headers=auth)).json()
    assert [m["name"] for m in listed["results"]] == ["Due"]
