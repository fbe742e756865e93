"""The admin site at /admin over HTTP (issue 8): a token login, tenant-scoped lists with
seed 000's filters, search, badges and progress bars, details, edits and deletes that go
through the services, and another tenant's rows out of reach."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import mint_token
from app.main import create_app
from app.settings import Settings
from tests.conftest import Tokens

M = "/api/milestones/"


def token(settings: Settings, tenant: str, user: str, roles: list[str] | None = None) -> str:
    return mint_token(settings, tenant_id=tenant, user_id=user, roles=roles or [])


async def sign_in(client: AsyncClient, value: str) -> Any:
    return await client.post("/admin/login", data={"token": value})


@pytest.fixture
async def site(client: AsyncClient, settings: Settings, tenant: str) -> AsyncClient:
    """The test's client, signed in to the admin site as the tenant's admin `root`."""
    response = await sign_in(client, token(settings, tenant, "root", ["admin"]))
    assert response.status_code == 302, response.text
    return client


async def record(
    client: AsyncClient, headers: dict[str, str], slug: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(f"/api/streams/{slug}/add_event/", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def stream(client: AsyncClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    response = await client.post("/api/streams/", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def milestone(client: AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"project_id": "42", "name": "Foundation", **fields}
    response = await client.post(M, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def event_pk(event: dict[str, Any]) -> str:
    """sqladmin's identifier of an event row: its key (id, occurred_at) joined by `;`."""
    at = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    return f"{event['id']};{at.isoformat(sep=' ')}"


def rows(html: str) -> int:
    """Rows on a list page (each has a select checkbox)."""
    return len(re.findall(r'class="form-check-input m-0 align-middle select-box"', html))


async def test_signing_in_takes_an_admins_token_and_refuses_others_clearly(
    client: AsyncClient, settings: Settings, tenant: str
) -> None:
    page = await client.get("/admin/", follow_redirects=False)
    assert page.status_code == 302
    assert page.headers["location"].endswith("/admin/login")
    form = await client.get("/admin/login")
    assert form.status_code == 200
    assert 'name="token"' in form.text

    empty = await sign_in(client, "  ")
    assert empty.status_code == 400
    assert "Paste a token" in empty.text
    forged = await sign_in(client, "not-a-jwt")
    assert forged.status_code == 400
    assert "The token was refused" in forged.text
    plain = await sign_in(client, token(settings, tenant, "alice"))
    assert plain.status_code == 400
    assert "tenant admins" in plain.text
    assert (await client.get("/admin/", follow_redirects=False)).status_code == 302

    good = await sign_in(client, token(settings, tenant, "root", ["admin"]))
    assert good.status_code == 302
    cookie = good.headers["set-cookie"]
    assert "tidings_admin=" in cookie
    assert "path=/admin" in cookie.lower()
    assert "httponly" in cookie.lower()
    dashboard = await client.get("/admin/")
    assert dashboard.status_code == 200
    assert f"tenant {tenant}" in dashboard.text

    out = await client.get("/admin/logout", follow_redirects=False)
    assert out.status_code == 302
    assert (await client.get("/admin/", follow_redirects=False)).status_code == 302


async def test_the_dashboard_shows_the_tenants_figures_and_events_per_day(
    site: AsyncClient, admin: dict[str, str], auth: dict[str, str]
) -> None:
    made = await stream(site, admin, "Site news")
    await site.post(f"/api/streams/{made['slug']}/subscribe/", json={}, headers=auth)
    today = datetime.now(UTC)
    for days_ago in (0, 0, 2):
        when = (today - timedelta(days=days_ago)).isoformat()
        await record(
            site, admin, made["slug"], event_type="note", data={"text": "hi"}, occurred_at=when
        )
    page = await site.get("/admin/")
    assert page.status_code == 200
    figures = dict(re.findall(r'data-figure="(\w+)">([\d,]+)<', page.text))
    assert figures["events"] == "3"
    assert figures["streams"] == "1"
    assert figures["subscriptions"] == "1"
    assert figures["unread"] == "3"  # alice's three items
    bars = re.findall(r'data-day="([\d-]+)" data-count="(\d+)"', page.text)
    assert len(bars) == 30
    counts = dict(bars)
    assert counts[today.date().isoformat()] == "2"
    assert counts[(today - timedelta(days=2)).date().isoformat()] == "1"
    assert 'id="tables"' not in page.text  # the database's tables are for operators


async def test_lists_filter_search_and_stay_inside_the_tenant(
    site: AsyncClient, tokens: Tokens, admin: dict[str, str]
) -> None:
    mine = await stream(site, admin, "Ours")
    ours = await record(
        site,
        admin,
        mine["slug"],
        event_type="note",
        importance="critical",
        data={"text": "boiler pressure alarm"},
    )
    await record(site, admin, mine["slug"], event_type="note", data={"text": "lunch order"})
    other_admin = tokens.headers("eve", tenant=f"other-{uuid.uuid4().hex[:8]}", roles=["admin"])
    theirs = await stream(site, other_admin, "Theirs")
    foreign = await record(
        site,
        other_admin,
        theirs["slug"],
        event_type="note",
        importance="critical",
        data={"text": "boiler pressure alarm"},
    )

    listed = await site.get("/admin/event/list")
    assert listed.status_code == 200
    assert rows(listed.text) == 2
    assert 'data-importance="critical"' in listed.text
    assert "status-dot status-red" in listed.text  # the coloured indicator
    critical = await site.get("/admin/event/list", params={"importance": "4"})
    assert rows(critical.text) == 1
    assert "boiler" in critical.text
    found = await site.get("/admin/event/list", params={"search": "boiler alarm"})
    assert rows(found.text) == 1
    assert "lunch" not in found.text
    bad = await site.get("/admin/event/list", params={"importance": "9"})
    assert bad.status_code == 400
    assert "importance must be one of" in bad.text
    unsortable = await site.get("/admin/event/list", params={"sortBy": "data"})
    assert unsortable.status_code == 400
    nul = await site.get("/admin/stream/list", params={"search": "a\x00b"})
    assert nul.status_code == 400
    assert "NUL" in nul.text
    assert (await site.get("/admin/event/list", params={"page": "x"})).status_code == 400
    assert (await site.get("/admin/event/create")).status_code == 403  # the API records
    assert (await site.get("/admin/event/export/csv")).status_code == 403
    pk = event_pk(ours).replace("+", "%2B")
    assert (await site.get(f"/admin/event/details/{pk}")).status_code == 200
    assert (await site.get(f"/admin/event/{pk}/summary/download/")).status_code == 404

    streams = await site.get("/admin/stream/list", params={"search": "our"})
    assert "Ours" in streams.text
    assert "Theirs" not in (await site.get("/admin/stream/list")).text
    # another tenant's row is not there at all; neither is a malformed key
    assert (await site.get(f"/admin/event/details/{event_pk(foreign)}")).status_code == 404
    assert (await site.get(f"/admin/stream/details/{theirs['id']}")).status_code == 404
    assert (await site.get(f"/admin/stream/edit/{theirs['id']}")).status_code == 404
    assert (await site.get("/admin/stream/details/not-a-uuid")).status_code == 404
    assert (await site.get("/admin/event/details/x;y")).status_code == 404
    assert (await site.get("/admin/nothing/list")).status_code == 404
    gone = await site.delete(f"/admin/stream/delete?pks={theirs['id']}")
    assert gone.status_code == 403  # streams are deactivated, not deleted
    refused = await site.delete("/admin/event/delete", params={"pks": event_pk(foreign)})
    assert refused.status_code == 404
    theirs_now = await site.get(f"/api/streams/{theirs['slug']}/", headers=other_admin)
    assert theirs_now.json()["event_count"] == 1
    # the type filter offers this tenant's types only, from its rollup
    assert 'href="?event_type=note"' in listed.text or "event_type=note" in listed.text


async def test_milestones_show_status_badges_progress_bars_and_overdue(
    site: AsyncClient, admin: dict[str, str]
) -> None:
    late = await milestone(
        site, admin, name="Roof", planned_end_date="2020-01-31", priority="critical"
    )
    await site.post(f"{M}{late['id']}/update_progress/", json={"progress": 40}, headers=admin)
    await milestone(
        site, admin, name="Walls", planned_end_date=(date.today() + timedelta(days=30)).isoformat()
    )
    page = await site.get("/admin/milestone/list")
    assert page.status_code == 200
    assert rows(page.text) == 2
    assert 'aria-valuenow="40"' in page.text
    assert 'style="width: 40%"' in page.text
    assert 'data-status="planned"' in page.text
    assert 'data-priority="critical"' in page.text
    assert page.text.count('data-overdue="true"') == 1
    overdue = await site.get("/admin/milestone/list", params={"overdue": "true"})
    assert rows(overdue.text) == 1
    assert "Roof" in overdue.text
    on_time = await site.get("/admin/milestone/list", params={"overdue": "false"})
    assert rows(on_time.text) == 1
    assert "Walls" in on_time.text
    by_project = await site.get("/admin/milestone/list", params={"project_id": "42"})
    assert rows(by_project.text) == 2
    details = await site.get(f"/admin/milestone/details/{late['id']}")
    assert details.status_code == 200
    assert 'aria-valuenow="40"' in details.text


def milestone_form(current: dict[str, Any], **changes: Any) -> dict[str, str]:
    fields = {
        "name": current["name"],
        "description": current["description"],
        "status": current["status"],
        "priority": current["priority"],
        "progress": str(current["progress"]),
        "planned_start_date": current["planned_start_date"] or "",
        "planned_end_date": current["planned_end_date"] or "",
        "assigned_to": current["assigned_to"] or "",
        "budget": current["budget"] or "",
        "actual_cost": current["actual_cost"] or "",
    }
    return {**fields, **{k: str(v) for k, v in changes.items()}}


async def test_an_edit_goes_through_the_milestone_service(
    site: AsyncClient, admin: dict[str, str]
) -> None:
    made = await milestone(site, admin, planned_start_date="2026-03-01")
    edit = f"/admin/milestone/edit/{made['id']}"
    form = await site.get(edit)
    assert form.status_code == 200
    assert 'name="progress"' in form.text

    saved = await site.post(
        edit, data=milestone_form(made, name="Foundation slab", status="in_progress", progress=60)
    )
    assert saved.status_code == 302, saved.text
    now = (await site.get(f"{M}{made['id']}/", headers=admin)).json()
    assert now["name"] == "Foundation slab"
    assert now["status"] == "in_progress"
    assert now["progress"] == 60
    assert now["actual_start_date"] is not None  # the start action ran, not a raw update
    events = (await site.get(f"/api/streams/{made['stream']}/events/", headers=admin)).json()
    kinds = [e["event_type"] for e in events["results"]]
    assert {"milestone_updated", "milestone_started", "milestone_progress_updated"} <= set(kinds)

    # the service's rules hold: an end before the start is refused, nothing changes
    refused = await site.post(
        edit, data=milestone_form(now, name="Renamed again", planned_end_date="2026-02-01")
    )
    assert refused.status_code == 400
    assert "before planned_start_date" in refused.text
    assert (await site.get(f"{M}{made['id']}/", headers=admin)).json()["name"] == "Foundation slab"
    negative = await site.post(edit, data=milestone_form(now, budget="-5"))
    assert negative.status_code == 400
    assert "budget" in negative.text
    stranger = await site.post(edit, data=milestone_form(now, assigned_to="nobody-known"))
    assert stranger.status_code == 400  # the service checks the assignee is a known user

    assigned = await site.post(edit, data=milestone_form(now, assigned_to="root"))
    assert assigned.status_code == 302, assigned.text
    now = (await site.get(f"{M}{made['id']}/", headers=admin)).json()
    assert now["assigned_to"] == "root"
    cleared = await site.post(edit, data=milestone_form(now, assigned_to="", description=""))
    assert cleared.status_code == 302, cleared.text
    now = (await site.get(f"{M}{made['id']}/", headers=admin)).json()
    assert (now["assigned_to"], now["description"]) == (None, "")


async def test_deletes_follow_the_services_rules(site: AsyncClient, admin: dict[str, str]) -> None:
    first = await milestone(site, admin, name="Dig")
    second = await milestone(site, admin, name="Pour", depends_on=[first["id"]])
    blocked = await site.delete(f"/admin/milestone/delete?pks={first['id']}")
    assert blocked.status_code == 200
    assert "depend+on+this" in blocked.text  # the list page is shown with the refusal
    assert (await site.get(f"{M}{first['id']}/", headers=admin)).status_code == 200
    done = await site.delete(f"/admin/milestone/delete?pks={second['id']}")
    assert "error" not in done.text
    assert (await site.get(f"{M}{second['id']}/", headers=admin)).status_code == 404

    made = await stream(site, admin, "Log")
    event = await record(site, admin, made["slug"], event_type="note", data={"text": "x"})
    removed = await site.delete("/admin/event/delete", params={"pks": event_pk(event)})
    assert "error" not in removed.text, removed.text
    after = (await site.get(f"/api/streams/{made['slug']}/", headers=admin)).json()
    assert after["event_count"] == 0  # a soft delete: uncounted, hidden
    listed = (await site.get(f"/api/streams/{made['slug']}/events/", headers=admin)).json()
    assert listed["results"] == []
    details = await site.get(f"/admin/event/details/{event_pk(event)}")
    assert details.status_code == 200
    assert ">deleted</span>" in details.text  # still there for the grace period, marked
    shown = await site.get(blocked.text)  # the list the browser is sent to names the refusal
    assert "other milestones depend on this one" in shown.text
    again = await site.delete("/admin/event/delete", params={"pks": event_pk(event)})
    assert "already+deleted" in again.text
    assert (await site.get(f"/admin/event/edit/{event_pk(event)}")).status_code == 403


async def test_subscriptions_streams_and_comments_change_through_services(
    site: AsyncClient, admin: dict[str, str], auth: dict[str, str]
) -> None:
    made = await stream(site, admin, "Announcements")
    sub = await site.post(f"/api/streams/{made['slug']}/subscribe/", json={}, headers=auth)
    sub_id = sub.json()["id"]
    page = await site.get("/admin/subscription/list")
    assert "never read" in page.text
    saved = await site.post(
        f"/admin/subscription/edit/{sub_id}",
        data={"subscription_type": "watch", "notify_push": "y", "min_importance": "3"},
    )
    assert saved.status_code == 302, saved.text
    mine = (await site.get(f"/api/subscriptions/{sub_id}/", headers=auth)).json()
    assert (mine["subscription_type"], mine["notify_push"], mine["notify_email"]) == (
        "watch",
        True,
        False,
    )
    assert mine["min_importance"] == "high"
    removed = await site.delete(f"/admin/subscription/delete?pks={sub_id}")
    assert "error" not in removed.text
    assert (await site.get(f"/api/streams/{made['slug']}/", headers=admin)).json()[
        "subscriber_count"
    ] == 0

    off = await site.post(
        f"/admin/stream/edit/{made['id']}",
        data={"name": "Announcements (old)", "description": "archived", "is_active": ""},
    )
    assert off.status_code == 302, off.text
    now = (await site.get(f"/api/streams/{made['slug']}/", headers=admin)).json()
    assert (now["name"], now["is_active"]) == ("Announcements (old)", False)

    goal = await milestone(site, admin)
    said = await site.post(
        f"{M}{goal['id']}/add_comment/", json={"content": "Started"}, headers=auth
    )
    comment_id = said.json()["id"]
    await site.post(
        f"{M}{goal['id']}/add_comment/",
        json={"content": "Great", "parent": comment_id},
        headers=admin,
    )
    threads = await site.get("/admin/milestone-comment/list")
    assert 'data-thread="start"' in threads.text
    assert 'data-thread="reply"' in threads.text
    fixed = await site.post(
        f"/admin/milestone-comment/edit/{comment_id}", data={"content": "Started on Monday"}
    )
    assert fixed.status_code == 302, fixed.text
    comments = (await site.get(f"{M}{goal['id']}/comments/", headers=auth)).json()
    edited = next(c for c in comments if c["id"] == comment_id)
    assert (edited["content"], edited["is_edited"]) == ("Started on Monday", True)
    assert 'data-edited="true"' in (await site.get("/admin/milestone-comment/list")).text


@pytest.fixture
async def super_site(
    settings: Settings,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> AsyncIterator[AsyncClient]:
    configured = settings.model_copy(update={"admin_superusers": ["ops/olga"]})
    app = create_app(configured, engine=engine, session_factory=session_factory, redis=redis)
    async with AsyncClient(transport=ASGITransport(app), base_url="http://test") as client:
        response = await sign_in(client, token(configured, "ops", "olga"))
        assert response.status_code == 302, response.text
        yield client


async def test_a_super_admin_sees_every_tenant(
    super_site: AsyncClient, tokens: Tokens, admin: dict[str, str]
) -> None:
    other = tokens.headers("eve", tenant=f"other-{uuid.uuid4().hex[:8]}", roles=["admin"])
    await stream(super_site, admin, "Tenant A stream")
    await stream(super_site, other, "Tenant B stream")
    listed = await super_site.get("/admin/stream/list")
    assert "Tenant A stream" in listed.text
    assert "Tenant B stream" in listed.text
    dashboard = await super_site.get("/admin/")
    assert "super-admin" in dashboard.text
    assert 'id="tables"' in dashboard.text  # operators see the database's tables


async def test_the_site_can_be_turned_off(
    settings: Settings,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> None:
    off = settings.model_copy(update={"admin_enabled": False})
    app = create_app(off, engine=engine, session_factory=session_factory, redis=redis)
    async with AsyncClient(transport=ASGITransport(app), base_url="http://test") as client:
        assert (await client.get("/admin/login")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
