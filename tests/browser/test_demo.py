"""The /demo page and /static/tidings.js in a real browser against a live server: two
people on one project see each other, typing, comments, events, notifications and the
milestone plan live; the page fits a phone; the client library's reconnection rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_session_factory
from app.services.demo import load_demo
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import Tokens

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)

DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}
OpenPage = Callable[..., Awaitable[Page]]


# --- helpers ---------------------------------------------------------------------------


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def people(tokens: Tokens) -> tuple[dict[str, str], dict[str, str]]:
    alice = tokens.headers("alice", first_name="Alice", last_name="Liddell", email="a@x.test")
    bob = tokens.headers("bob", first_name="Bob", last_name="Beamon", email="b@x.test")
    return alice, bob


@pytest.fixture
async def rest(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        yield client


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Opens a URL in a fresh browser context (its own storage: another person); fails
    the test on any uncaught script error."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def open_(url: str, viewport: ViewportSize = DESKTOP, **options: Any) -> Page:
        context = await browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(url)
        return page

    yield open_
    for context in contexts:
        await context.close()
    assert errors == []


async def record(
    rest: httpx.AsyncClient, auth: dict[str, str], event_type: str, data: dict[str, Any]
) -> dict[str, Any]:
    response = await rest.post(
        "/api/events/",
        json={
            "object_type": "project",
            "object_id": "alpha",
            "event_type": event_type,
            "data": data,
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def milestone(
    rest: httpx.AsyncClient, auth: dict[str, str], name: str, start: int, end: int, **more: Any
) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    response = await rest.post(
        "/api/milestones/",
        json={
            "project_id": "alpha",
            "name": name,
            "planned_start_date": str(today + timedelta(days=start)),
            "planned_end_date": str(today + timedelta(days=end)),
            **more,
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def project(rest: httpx.AsyncClient, owner: dict[str, str]) -> str:
    """Project alpha of the test's tenant: an event and a plan of three milestones (two on
    the critical path); the project stream's slug."""
    slug = str((await record(rest, owner, "project_created", {"name": "Harbour Tower"}))["stream"])
    survey = await milestone(rest, owner, "Survey", 0, 4)
    await milestone(rest, owner, "Frame", 5, 20, depends_on=[survey["id"]])
    await milestone(rest, owner, "Permits", 0, 2)
    return slug


def presence_of(page: Page, user: str) -> Locator:
    return page.locator(f"[data-testid=presence-item][data-user-id={user}]")


def feed_item(page: Page, text: str) -> Locator:
    return page.get_by_test_id("feed-item").filter(has_text=text)


def badge(page: Page) -> Locator:
    return page.get_by_test_id("unread-badge")


async def no_horizontal_overflow(page: Page) -> None:
    widths = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"scrollWidth {widths[0]} > innerWidth {widths[1]}"


# --- the page --------------------------------------------------------------------------


async def test_two_people_on_one_project_see_each_other_live(
    live_server: str, tokens: Tokens, rest: httpx.AsyncClient, open_page: OpenPage, tmp_path: Path
) -> None:
    alice, bob = people(tokens)
    slug = await project(rest, alice)
    followed = await rest.post(f"/api/streams/{slug}/subscribe/", json={}, headers=bob)
    assert followed.status_code == 201, followed.text

    ada = await open_page(f"{live_server}/demo#token={bearer(alice)}")
    ben = await open_page(f"{live_server}/demo#token={bearer(bob)}")

    # signed in from the fragment, which leaves the address bar
    assert "token" not in ada.url
    for page in (ada, ben):
        await expect(page.get_by_test_id("connection-state")).to_have_attribute(
            "data-state", "open"
        )
        await expect(page.get_by_test_id("project-name")).to_have_text("Harbour Tower")
        await expect(feed_item(page, "Project created: Harbour Tower")).to_have_count(1)
    # each sees the other (and themselves) in the presence indicator
    await expect(presence_of(ada, "bob")).to_be_visible()
    await expect(presence_of(ben, "alice")).to_be_visible()
    await expect(presence_of(ada, "alice")).to_have_attribute("data-active", "true")
    await expect(ada.get_by_test_id("presence-count")).to_have_text("2 here now")
    # the current page shows on hover, and in the list of who is here
    await presence_of(ada, "bob").hover()
    await expect(presence_of(ada, "bob").get_by_role("tooltip")).to_be_visible()
    await expect(presence_of(ada, "bob").get_by_role("tooltip")).to_contain_text("On /demo")
    await ada.mouse.move(0, 0)
    bob_here = ada.get_by_test_id("person").filter(has_text="Bob Beamon")
    await expect(bob_here).to_contain_text("On /demo · active")

    # the plan: three bars, the dependency chain critical
    await expect(ada.get_by_test_id("gantt-bar")).to_have_count(3)
    await expect(ada.locator("[data-testid=gantt-bar][data-critical=true]")).to_have_count(2)
    # bob follows the project but nothing happened since: no badge
    await expect(badge(ben)).to_be_hidden()

    # an event recorded over REST: live in both feeds, and in bob's notifications
    await record(rest, alice, "project_updated", {"changed_fields": ["budget"]})
    for page in (ada, ben):
        await expect(feed_item(page, "Project updated: budget")).to_have_count(1)
        await expect(page.get_by_test_id("feed-item").first).to_contain_text("budget")
    await expect(badge(ben)).to_have_text("1")
    await expect(ben.get_by_test_id("toast").first).to_be_visible()

    # typing in one page shows in the other (never in the typist's own)
    box = ben.get_by_test_id("comment-input")
    await box.click()
    await box.press_sequentially("Crane arrives at 7", delay=15)
    await expect(ada.get_by_test_id("typing-indicator")).to_be_visible()
    await expect(ada.get_by_test_id("typing-indicator")).to_contain_text("Bob is typing…")
    await expect(ben.get_by_test_id("typing-indicator")).to_be_hidden()
    await ada.screenshot(path=tmp_path / "desktop-typing.png", animations="disabled")

    # the comment goes over the stream socket and comes back to both feeds
    await box.press("Enter")
    await expect(box).to_have_value("")
    for page in (ada, ben):
        await expect(feed_item(page, "Crane arrives at 7")).to_have_count(1)
        await expect(feed_item(page, "Crane arrives at 7")).to_contain_text("Bob Beamon")
    await expect(ada.get_by_test_id("typing-indicator")).to_be_hidden()
    # bob follows the stream, so his own comment is in his feed too
    await expect(badge(ben)).to_have_text("2")

    # a milestone added over REST redraws the plan live
    await milestone(rest, alice, "Handover", 21, 25)
    await expect(ada.get_by_test_id("gantt-bar")).to_have_count(4)
    await expect(ben.get_by_test_id("gantt-bar")).to_have_count(4)
    await expect(badge(ben)).to_have_text("3")

    # the popup lists the notifications; "mark all read" clears the badge
    await ben.get_by_test_id("notification-bell").click()
    popup = ben.get_by_test_id("notification-popup")
    await expect(popup).to_be_visible()
    await expect(popup.get_by_test_id("notification-item")).to_have_count(3)
    await expect(popup.locator(".notification.unread")).to_have_count(3)
    await ben.screenshot(path=tmp_path / "desktop-notifications.png", animations="disabled")
    await popup.get_by_test_id("mark-all-read").click()
    await expect(badge(ben)).to_be_hidden()
    await expect(popup.locator(".notification.unread")).to_have_count(0)
    await ben.keyboard.press("Escape")
    await expect(popup).to_be_hidden()

    # resume: what was recorded while alice's socket was down arrives when it is back
    await ada.evaluate("() => window.tidingsDemo.live.close()")
    await expect(ada.get_by_test_id("connection-state")).to_have_attribute("data-state", "closed")
    await expect(presence_of(ben, "alice")).to_have_count(0)
    await record(rest, bob, "comment", {"text": "Missed while away"})
    await expect(feed_item(ben, "Missed while away")).to_have_count(1)
    await expect(feed_item(ada, "Missed while away")).to_have_count(0)
    await ada.evaluate("() => window.tidingsDemo.live.connect()")
    await expect(ada.get_by_test_id("connection-state")).to_have_attribute("data-state", "open")
    await expect(feed_item(ada, "Missed while away")).to_have_count(1)
    await expect(presence_of(ben, "alice")).to_be_visible()

    await ada.screenshot(path=tmp_path / "desktop.png", full_page=True, animations="disabled")


async def test_the_page_fits_a_phone(
    live_server: str, tokens: Tokens, rest: httpx.AsyncClient, open_page: OpenPage, tmp_path: Path
) -> None:
    alice, bob = people(tokens)
    await project(rest, alice)
    await record(rest, bob, "comment", {"text": "A long comment " * 12})

    phone = await open_page(
        f"{live_server}/demo#token={bearer(alice)}",
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    await expect(phone.get_by_test_id("connection-state")).to_have_attribute("data-state", "open")
    await expect(phone.get_by_test_id("gantt-bar")).to_have_count(3)
    await expect(presence_of(phone, "alice")).to_be_visible()
    for part in ("notification-bell", "activity-feed", "comment-input", "comment-send", "gantt"):
        await expect(phone.get_by_test_id(part)).to_be_visible()
    await no_horizontal_overflow(phone)
    # touch-sized controls
    for part in ("notification-bell", "comment-send", "sign-out"):
        size = await phone.get_by_test_id(part).bounding_box()
        assert size is not None
        assert size["width"] >= 40
        assert size["height"] >= 40, part
    await phone.screenshot(path=tmp_path / "phone.png", full_page=True, animations="disabled")

    # the popup fits the screen too
    await phone.get_by_test_id("notification-bell").tap()
    popup = phone.get_by_test_id("notification-popup")
    await expect(popup).to_be_visible()
    box = await popup.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    await no_horizontal_overflow(phone)
    await phone.screenshot(path=tmp_path / "phone-notifications.png", animations="disabled")


async def test_signing_in_with_the_demo_buttons_and_a_pasted_token(
    live_server: str, tokens: Tokens, engine: AsyncEngine, open_page: OpenPage, tmp_path: Path
) -> None:
    # the demo data set (`make run` loads it) in the test database, once
    async with create_session_factory(engine)() as session, session.begin():
        await load_demo(session)
    async with create_session_factory(engine)() as session, session.begin():
        assert await load_demo(session) == 0

    page = await open_page(f"{live_server}/demo")
    await expect(page.get_by_test_id("sign-in")).to_be_visible()
    await page.screenshot(path=tmp_path / "sign-in.png", animations="disabled")
    await page.get_by_test_id("sign-in-grace").click()
    await expect(page.get_by_test_id("project-name")).to_have_text("Commercial Building A")
    await expect(page.get_by_test_id("me")).to_contain_text("Grace Hopper")
    await expect(presence_of(page, "grace")).to_be_visible()
    await expect(page.get_by_test_id("gantt-bar")).to_have_count(5)
    await expect(page.locator("[data-testid=gantt-bar][data-critical=true]")).to_have_count(3)
    await expect(feed_item(page, "Concrete pour")).to_have_count(1)
    # grace follows the project: its events are in her notifications
    await expect(badge(page)).to_be_visible()
    await page.screenshot(path=tmp_path / "demo-grace.png", full_page=True, animations="disabled")

    # a reload keeps the sign-in; signing out forgets it
    await page.reload()
    await expect(page.get_by_test_id("me")).to_contain_text("Grace Hopper")
    await page.get_by_test_id("sign-out").click()
    await expect(page.get_by_test_id("sign-in")).to_be_visible()
    await page.reload()
    await expect(page.get_by_test_id("sign-in")).to_be_visible()

    # any tenant's token may be pasted; a bad one is refused with a message
    await page.get_by_test_id("token-input").fill("not-a-token")
    await page.get_by_test_id("token-input").press("Enter")
    await expect(page.get_by_test_id("sign-in-message")).to_be_visible()
    alice, _ = people(tokens)
    await page.get_by_test_id("token-input").fill(bearer(alice))
    await page.get_by_test_id("token-input").press("Enter")
    await expect(page.get_by_test_id("me")).to_contain_text("Alice Liddell")
    await expect(page.get_by_test_id("project-meta")).to_contain_text("Nothing has happened")
    await expect(page.get_by_test_id("gantt-empty")).to_be_visible()


# --- the client library, against a fake WebSocket ----------------------------------------

CLIENT_CHECKS = """
async () => {
  const { WebSocketClient, StreamWebSocket, NotificationWebSocket, ProjectWebSocket } =
    await import("/static/tidings.js");
  const sockets = [];
  class FakeSocket {
    constructor(url, protocols) {
      Object.assign(this, { url, protocols, sent: [], closedWith: null });
      sockets.push(this);
    }
    send(data) { this.sent.push(JSON.parse(data)); }
    close(code, reason) { this.closedWith = code; }
    open() { this.onopen({}); }
    receive(frame) { this.onmessage({ data: JSON.stringify(frame) }); }
    drop(code) { this.onclose({ code, reason: "", wasClean: false }); }
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const until = async (ok) => {
    for (let i = 0; i < 200 && !ok(); i++) await sleep(10);
    return ok();
  };
  const out = {};
  const options = { WebSocketImpl: FakeSocket, minDelay: 10, maxDelay: 40, random: () => 0.999 };

  // URL, token as a subprotocol, queueing, pong, dropping repeats, resume
  const client = new WebSocketClient("/ws/streams/s/", {
    ...options, token: "abc", page: "/demo?project=x", lastEventId: "e0",
  });
  const states = [];
  const seen = [];
  client.on("state", (s) => states.push([s.state, s.delay ?? null, s.fatal ?? false]));
  client.on("event", (f) => seen.push(f.id));
  const everything = [];
  const stop = client.on("*", (f) => everything.push(f.type));
  client.connect();
  let ws = sockets.at(-1);
  out.url = ws.url;
  out.protocols = ws.protocols;
  out.queued = client.send({ type: "comment", content: "early" });
  ws.open();
  out.flushed = ws.sent.map((f) => f.type);
  ws.receive({ type: "connection_established", user: { id: "u" } });
  ws.receive({ type: "ping" });
  out.pong = ws.sent.at(-1);
  ws.receive({ type: "event", id: "e1", event: {} });
  ws.receive({ type: "event", id: "e1", event: {} });
  ws.receive({ type: "new_notification", notification: { id: "n1" } });
  stop();
  ws.receive({ type: "event", id: "e2", event: {} });
  out.seen = seen;
  out.everything = everything;
  out.last = client.lastEventId;

  // reconnection: full jitter, doubling to the cap; reset after connection_established
  ws.drop(1013);
  for (let n = 0; n < 3; n++) {
    await until(() => sockets.length === 2 + n);
    sockets.at(-1).drop(1006);
  }
  await until(() => sockets.length === 5);
  ws = sockets.at(-1);
  out.resumeUrl = ws.url;
  ws.open();
  ws.receive({ type: "connection_established" });
  ws.drop(1001);
  await until(() => sockets.length === 6);
  out.delays = states.filter((s) => s[0] === "reconnecting").map((s) => s[1]);

  // no reconnection after 4401 / 4404
  sockets.at(-1).open();
  sockets.at(-1).drop(4401);
  await sleep(120);
  out.afterFatal = [sockets.length, client.state, states.at(-1)];

  // the heartbeat: our ping; silence after it means reconnect
  const beating = new WebSocketClient("/ws/notifications/", {
    ...options, heartbeatInterval: 30, heartbeatTimeout: 30,
  });
  beating.connect();
  const quiet = sockets.at(-1);
  quiet.open();
  await until(() => sockets.length === 8);
  out.heartbeat = [quiet.sent[0]?.type, typeof quiet.sent[0]?.ts, quiet.closedWith];
  beating.close();
  await sleep(80);
  out.afterClose = [sockets.length, beating.state];

  // typing is throttled, never queued; a comment stops it
  const stream = new StreamWebSocket("project-x", options);
  out.typingOffline = stream.typing(true);
  stream.connect();
  const talk = sockets.at(-1);
  talk.open();
  stream.typing(true);
  stream.typing(true);
  stream.typing(false);
  stream.typing(false);
  stream.typing(true);
  stream.comment("hello", { parentId: "p1" });
  out.talk = talk.sent;
  out.streamUrl = talk.url;
  out.projectUrl = new ProjectWebSocket("a b", options).connect() && sockets.at(-1).url;

  // notifications: mark read, unread count
  const inbox = new NotificationWebSocket(options);
  inbox.connect();
  const box = sockets.at(-1);
  box.open();
  box.receive({ type: "unread_count", count: 4, by_type: {} });
  inbox.markRead({ all: true });
  inbox.markRead({ ids: ["i1"] });
  try {
    inbox.markRead({});
    out.markReadEmpty = "accepted";
  } catch (e) {
    out.markReadEmpty = e.name;
  }
  out.inbox = [inbox.unreadCount, box.sent];
  return out;
}
"""


async def test_the_client_reconnects_resumes_and_throttles(live_server: str, page: Page) -> None:
    await page.goto(f"{live_server}/healthz")
    out: dict[str, Any] = await page.evaluate(CLIENT_CHECKS)
    host = live_server.removeprefix("http://")

    assert out["url"] == f"ws://{host}/ws/streams/s/?last_event_id=e0&page=%2Fdemo%3Fproject%3Dx"
    assert out["protocols"] == ["tidings.v1", "bearer.abc"]
    assert out["queued"] is False
    assert out["flushed"] == ["comment"]
    assert out["pong"] == {"type": "pong"}
    assert out["seen"] == ["e1", "e2"]  # the repeat of e1 was dropped
    assert out["everything"] == ["connection_established", "ping", "event", "new_notification"]
    assert out["last"] == "e2"
    assert out["resumeUrl"].endswith("?last_event_id=e2&page=%2Fdemo%3Fproject%3Dx")
    # floor(0.999 * min(40, 10 * 2^n)), then back to the first step after a good open
    assert out["delays"] == [9, 19, 39, 39, 9]
    assert out["afterFatal"] == [6, "closed", ["closed", None, True]]
    assert out["heartbeat"] == ["ping", "number", 4000]
    assert out["afterClose"] == [8, "closed"]
    assert out["typingOffline"] is False
    assert out["talk"] == [
        {"type": "typing", "is_typing": True},
        {"type": "typing", "is_typing": False},
        {"type": "typing", "is_typing": True},
        {"type": "typing", "is_typing": False},
        {"type": "comment", "content": "hello", "parent_id": "p1"},
    ]
    assert out["streamUrl"] == f"ws://{host}/ws/streams/project-x/"
    assert out["projectUrl"] == f"ws://{host}/ws/projects/a%20b/"
    assert out["markReadEmpty"] == "TypeError"
    assert out["inbox"] == [
        4,
        [{"type": "mark_read", "all": True}, {"type": "mark_read", "ids": ["i1"]}],
    ]
