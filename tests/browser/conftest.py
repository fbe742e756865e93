"""Browser tests: Debian's chromium, driven by playwright, against a real uvicorn server.

No browser is downloaded (`playwright install` is never used): the tests launch
`TIDINGS_CHROMIUM` or /usr/bin/chromium. `make test` installs Debian's chromium when it is
missing and the run is root with apt-get; otherwise, and when pytest is run directly
without it, the browser tests fail (never skip) saying how to install it.

`live_server` is a real process on the test database and Redis: what a test does through it
is committed for real, so each test works in a tenant of its own (the `tenant` fixture).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from app.settings import Settings
from tests.servers import app_server

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# --no-sandbox: Chromium refuses to start as root otherwise. The background-networking
# flags keep Chromium from calling Google's services, which a closed network refuses.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
TIMEOUT_MS = 10_000  # playwright's default, 30 s, would make a failing test slow to say so


def chromium_path() -> str:
    return os.environ.get("TIDINGS_CHROMIUM") or DEFAULT_CHROMIUM


def missing_chromium(path: str) -> str:
    if os.environ.get("TIDINGS_CHROMIUM"):
        return f"TIDINGS_CHROMIUM={path} is not an executable Chromium"
    return (
        f"{path} is missing: the browser tests need Debian's chromium. Install it with "
        "`sudo apt-get install --no-install-recommends chromium` (`make test` does so itself "
        "when run as root), or set TIDINGS_CHROMIUM to a Chromium binary"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    if not _executable(path):
        pytest.fail(missing_chromium(path), pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh browser context (no cookies or storage shared between tests)."""
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture(scope="session")
def live_server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under `uvicorn --factory app.main:create_app` on a free port, on the test
    database (migrated by `settings`) and Redis, with the tests' JWT secret; yields its base
    URL, e.g. `await page.goto(f"{live_server}/docs")`."""
    with app_server(settings, tmp_path_factory.mktemp("live-server")) as base_url:
        yield base_url
