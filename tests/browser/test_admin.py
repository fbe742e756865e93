"""The admin site in headless Chromium against a live server (issue 8): signing in with a
token, the dashboard's figures and chart, the events list's importance badges and
coloured dots, the milestones' status badges, progress bars and overdue indicators, all
styled and laid out on a laptop screen without a script error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import Tokens

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)

LAPTOP: ViewportSize = {"width": 1366, "height": 768}


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def post(client: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


class Session:
    def __init__(self, page: Page, base: str, late_id: str) -> None:
        self.page = page
        self.base = base
        self.late_id = late_id
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))


@pytest.fixture
async def signed_in(browser: Browser, live_server: str, tokens: Tokens) -> AsyncIterator[Session]:
    """A laptop-sized page signed in as the tenant's admin, with the page's script
    errors collected, after the tenant got events and milestones through the API."""
    admin = tokens.headers("root", roles=["admin"])
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        stream = await post(client, "/api/streams/", {"name": "Plant"}, admin)
        for importance, text in (("critical", "boiler alarm"), ("low", "coffee run")):
            await post(
                client,
                f"/api/streams/{stream['slug']}/add_event/",
                {"event_type": "note", "importance": importance, "data": {"text": text}},
                admin,
            )
        late = await post(
            client,
            "/api/milestones/",
            {"project_id": "7", "name": "Roof", "planned_end_date": "2020-01-31"},
            admin,
        )
        await post(
            client, f"/api/milestones/{late['id']}/update_progress/", {"progress": 40}, admin
        )
        soon = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
        done = await post(
            client,
            "/api/milestones/",
            {"project_id": "7", "name": "Walls", "planned_end_date": soon},
            admin,
        )
        await post(client, f"/api/milestones/{done['id']}/complete/", {}, admin)

    context = await browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    session = Session(page, live_server, late["id"])
    await page.goto(f"{live_server}/admin/")
    await expect(page).to_have_url(f"{live_server}/admin/login")
    await page.locator("textarea[name=token]").fill(bearer(admin))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{live_server}/admin/")
    try:
        yield session
    finally:
        await context.close()


async def fits(page: Page) -> None:
    """Nothing pushes the page wider than the window (wide tables scroll in their card)."""
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the page is {overflow}px wider than a laptop screen"


async def background(locator: Any) -> str:
    return str(await locator.evaluate("e => getComputedStyle(e).backgroundColor"))


async def test_dashboard_and_events_show_figures_chart_and_importance(
    signed_in: Session, tenant: str
) -> None:
    page = signed_in.page
    await expect(page.get_by_text(f"tenant {tenant}")).to_be_visible()
    events = int((await page.locator('[data-figure="events"]').inner_text()).replace(",", ""))
    assert events >= 2  # two notes, and the milestones' own events
    today = page.locator(f'#events-per-day rect[data-day="{datetime.now(UTC).date()}"]')
    assert int(await today.get_attribute("data-count") or 0) == events  # all of them today
    box = await today.bounding_box()
    assert box is not None
    assert box["height"] > 100
    await fits(page)

    menu = page.locator("#navbar-menu")
    await menu.get_by_text("Activity").click()
    await menu.get_by_role("link", name="Events").click()
    await expect(page).to_have_url(f"{signed_in.base}/admin/event/list")
    critical = page.locator('[data-importance="critical"]').first
    low = page.locator('[data-importance="low"]').first
    await expect(critical).to_be_visible()
    await expect(critical).to_have_text("critical")
    await expect(low).to_be_visible()
    assert await background(critical) != await background(low)  # coloured by importance
    assert await background(critical) != "rgba(0, 0, 0, 0)"  # tabler's stylesheet applies
    await expect(page.locator(".status-dot.status-red").first).to_be_visible()
    await fits(page)

    await page.goto(f"{signed_in.base}/admin/event/list?importance=4")
    await expect(page.get_by_text("boiler alarm")).to_be_visible()
    await expect(page.get_by_text("coffee run")).to_have_count(0)
    assert signed_in.errors == []


async def test_milestones_show_status_badges_progress_bars_and_overdue(
    signed_in: Session,
) -> None:
    page = signed_in.page
    menu = page.locator("#navbar-menu")
    await menu.get_by_text("Projects").click()
    await menu.get_by_role("link", name="Milestones").click()
    await expect(page).to_have_url(f"{signed_in.base}/admin/milestone/list")
    await expect(page.get_by_text("Roof")).to_be_visible()

    bar = page.locator('.progress-bar[aria-valuenow="40"]')
    await expect(bar).to_be_visible()
    track = page.locator(".progress").filter(has=bar)
    bar_box, track_box = await bar.bounding_box(), await track.bounding_box()
    assert bar_box is not None
    assert track_box is not None
    assert abs(bar_box["width"] / track_box["width"] - 0.40) < 0.03  # drawn at 40%
    full = page.locator('.progress-bar[aria-valuenow="100"]')
    await expect(full).to_be_visible()

    overdue = page.locator('[data-overdue="true"]')
    await expect(overdue).to_have_count(1)  # the completed one is not overdue
    await expect(overdue).to_contain_text("overdue")
    red = await background(overdue)
    assert red != "rgba(0, 0, 0, 0)"
    completed = page.locator('[data-status="completed"]')
    await expect(completed).to_be_visible()
    assert await background(completed) != await background(page.locator('[data-status="planned"]'))
    await fits(page)

    await page.goto(f"{signed_in.base}/admin/milestone/details/{signed_in.late_id}")
    await expect(page.locator('.progress-bar[aria-valuenow="40"]')).to_be_visible()
    await expect(page.locator('[data-overdue="true"]')).to_be_visible()
    await fits(page)
    assert signed_in.errors == []
