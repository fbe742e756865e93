"""Chromium, playwright and a live server together: the browser plumbing works end to end.
(The Swagger UI at /docs loads its JS and CSS from a CDN, so it is not used here.)"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

pytestmark = pytest.mark.browser


async def test_chromium_renders_the_live_openapi_document(live_server: str, page: Page) -> None:
    response = await page.goto(f"{live_server}/openapi.json")

    assert response is not None
    assert response.status == 200
    assert "Tidings" in await page.inner_text("body")
    document: dict[str, Any] = await page.evaluate(
        "() => JSON.parse(document.querySelector('pre').textContent)"
    )
    assert document["info"]["title"] == "Tidings"
    assert "/healthz" in document["paths"]


async def test_page_scripts_reach_the_live_server(live_server: str, page: Page) -> None:
    await page.goto(f"{live_server}/healthz")

    assert await page.inner_text("body") == '{"status":"ok"}'
    # Script in the page, same origin: the browser's own fetch against the server.
    answer = await page.evaluate(
        "async () => { const r = await fetch('/healthz'); return [r.status, await r.json()]; }"
    )
    assert answer == [200, {"status": "ok"}]
    assert await page.evaluate("navigator.userAgent.includes('Chrome')") is True
