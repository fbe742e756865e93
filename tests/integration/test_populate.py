from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings, get_settings
from tests.conftest import Tokens


async def test_populate_command_backfills_and_dry_run_only_counts(
    committed_client: AsyncClient,
    tokens: Tokens,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = tokens.headers("owner")
    slug = (await committed_client.post("/api/streams/", json={"name": "P"}, headers=owner)).json()[
        "slug"
    ]
    for n in range(3):
        await committed_client.post(
            f"/api/streams/{slug}/add_event/",
            json={"event_type": "custom", "summary": str(n)},
            headers=owner,
        )
    reader = tokens.headers("reader")
    await committed_client.post(f"/api/streams/{slug}/subscribe/", json={}, headers=reader)

    monkeypatch.setenv("TIDINGS_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("TIDINGS_ENVIRONMENT", "test")
    get_settings.cache_clear()
    try:
        # The command runs its own event loop: give it a thread.
        dry, real, again = [
            await asyncio.to_thread(CliRunner().invoke, cli, ["populate-activity-feeds", *args])
            for args in (
                ["--user-id", "reader", "--dry-run"],
                ["--user-id", "reader"],
                ["--user-id", "reader"],
            )
        ]
    finally:
        get_settings.cache_clear()
    assert dry.exit_code == 0, dry.output
    assert f"{tokens.tenant}/reader: would create 3" in dry.output
    assert f"{tokens.tenant}/reader: created 3" in real.output
    assert f"{tokens.tenant}/reader: created 0" in again.output
    feed = await committed_client.get("/api/events/activity-feed/", headers=reader)
    assert feed.json()["count"] == 3
