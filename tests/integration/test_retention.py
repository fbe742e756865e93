"""Retention through real commits: policies, cleanup (row by row and whole months), dry
runs, archives, soft-deleted events, concurrency and atomicity (issue 7)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from app.cli import cli
from app.db import create_session_factory
from app.models import RetiringPartition
from app.repositories.retention import RetentionRepository
from app.services.partitions import partition_service
from app.services.retention import retention_service
from tests.conftest import Tokens

pytestmark = pytest.mark.slow
NOW = datetime.now(UTC)


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def setup_feed(
    client: AsyncClient, tokens: Tokens, *subscribers: str, tenant: str | None = None
) -> str:
    """A stream the `subscribers` follow (in `tenant`, the test's by default); its slug."""
    created = await client.post(
        "/api/streams/", json={"name": "Site"}, headers=tokens.headers(tenant=tenant)
    )
    slug = str(created.json()["slug"])
    for user in subscribers:
        response = await client.post(
            f"/api/streams/{slug}/subscribe/", json={}, headers=tokens.headers(user, tenant=tenant)
        )
        assert response.status_code == 201
    return slug


async def post(
    client: AsyncClient,
    tokens: Tokens,
    slug: str,
    event_type: str,
    days_ago: float,
    *,
    tenant: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    response = await client.post(
        f"/api/streams/{slug}/add_event/",
        json={
            "event_type": event_type,
            "data": data,
            "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        },
        headers=tokens.headers(tenant=tenant),
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def feed_of(engine: AsyncEngine, tenant: str, user: str) -> list[tuple[str, float]]:
    """(activity type, age in days) of a user's items, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT activity_type, extract(epoch FROM now() - created_at) / 86400"
                " FROM feed_items WHERE tenant_id = :t AND user_id = :u ORDER BY created_at"
            ),
            {"t": tenant, "u": user},
        )
        return [(r[0], round(float(r[1]))) for r in rows]


async def counters_match_rows(engine: AsyncEngine, tenant: str) -> bool:
    async with engine.connect() as conn:
        wrong = await conn.scalar(
            text(
                """
                WITH truth AS (
                    SELECT user_id, stream_id, activity_type, count(*) AS total,
                           count(*) FILTER (WHERE NOT is_read) AS unread
                      FROM feed_items WHERE tenant_id = :t
                     GROUP BY user_id, stream_id, activity_type),
                kept AS (SELECT user_id, stream_id, activity_type, total, unread
                           FROM feed_counters WHERE tenant_id = :t AND total <> 0)
                SELECT count(*) FROM truth FULL JOIN kept
                 USING (user_id, stream_id, activity_type)
                 WHERE (truth.total, truth.unread) IS DISTINCT FROM (kept.total, kept.unread)
                """
            ),
            {"t": tenant},
        )
    return bool(wrong == 0)


def mine(removed: Any, tenant: str) -> dict[str, int]:
    return {kind: n for (t, kind), n in removed.rows.items() if t == tenant}


def days_back(years: int) -> float:
    """An age in days that falls two days into the whole month `years` back."""
    ancient = NOW.replace(day=1) - timedelta(days=years * 365)
    return (NOW - ancient).total_seconds() / 86400 - 2


async def retire_month(factory: async_sessionmaker[AsyncSession], days: float) -> tuple[str, str]:
    """The month of items `days` old, taken out of the feed for the archive as a run's
    first step does (its counters not yet down); the month's name and its retiring
    table's."""
    async with factory() as session, session.begin():
        await partition_service.ensure_ahead(session, months_ahead=1)
    month = f"feed_items_p{(NOW - timedelta(days=days)):%Y%m}"
    async with factory() as session:
        (partition,) = [
            p
            for p in await RetentionRepository(session).partitions("feed_items")
            if p.name == month
        ]
    async with factory() as session, session.begin():
        repo = RetentionRepository(session)
        await repo.lock_feed(5_000)
        return month, (await repo.retire("feed_items", partition, archive=True)).name


async def test_the_policy_api_shows_defaults_takes_overrides_and_refuses_bad_ones(
    committed_client: AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.headers("root", roles=["admin"])
    shown = (await committed_client.get("/api/admin/retention/", headers=admin)).json()
    assert shown["feed"]["defaults"]["fast_reminder"] == 30
    assert shown["feed"]["defaults"]["milestone"] == 365
    assert shown["feed"]["effective"]["note"] == 180  # not named: the default
    assert shown["feed"]["effective"]["milestone_started"] == 365  # its category's
    assert shown["events"] == {"keep_days": {}, "deleted_grace_days": 30, "archive_after_days": 730}
    put = await committed_client.put(
        "/api/admin/retention/",
        json={
            "feed": {"overrides": {"note": 10}, "default_days": 90},
            "events": {"keep_days": {"call": 400}, "deleted_grace_days": 7},
        },
        headers=admin,
    )
    assert put.status_code == 200, put.text
    assert put.json()["feed"]["effective"]["note"] == 10
    assert put.json()["feed"]["effective"]["email"] == 90
    assert put.json()["events"]["deleted_grace_days"] == 7
    for body, loc in (
        (
            {"feed": {"overrides": {"no_such_type": 5}}},
            ["body", "feed", "overrides", "no_such_type"],
        ),
        ({"feed": {"overrides": {"note": -1}}}, ["body", "feed", "overrides", "note"]),
        ({"events": {"deleted_grace_days": 0}}, ["body", "events", "deleted_grace_days"]),
        ({"feed": {"overrides": {"note": "soon"}}}, ["body", "feed", "overrides", "note"]),
        ({"stuff": 1}, ["body", "stuff"]),
    ):
        bad = await committed_client.put("/api/admin/retention/", json=body, headers=admin)
        assert bad.status_code == 422, (body, bad.text)
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["loc"] == loc
    # unchanged by the refusals; another tenant still has the defaults; plain users may not
    again = (await committed_client.get("/api/admin/retention/", headers=admin)).json()
    assert again["feed"]["overrides"] == {"note": 10}
    other = tokens.headers("root", roles=["admin"], tenant=f"{tokens.tenant}-other")
    assert (await committed_client.get("/api/admin/retention/", headers=other)).json()["feed"][
        "overrides"
    ] == {}
    plain = await committed_client.get("/api/admin/retention/", headers=tokens.headers("bob"))
    assert plain.status_code == 403


async def test_cleanup_removes_what_is_past_each_types_retention_and_a_dry_run_nothing(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob")
    for days in (20, 25, 200, 210):
        await post(committed_client, tokens, slug, "note", days, text="n")
    for days in (10, 40):
        await post(committed_client, tokens, slug, "fast_reminder", days, fast_name="Lent")
    before = await feed_of(engine, tokens.tenant, "bob")
    dry = await retention_service.cleanup(factory, dry_run=True)
    assert mine(dry, tokens.tenant) == {"note": 2, "fast_reminder": 1}
    assert await feed_of(engine, tokens.tenant, "bob") == before  # a dry run changes nothing
    done = await retention_service.cleanup(factory)
    assert mine(done, tokens.tenant) == mine(dry, tokens.tenant)  # exactly what it said
    assert await feed_of(engine, tokens.tenant, "bob") == [
        ("note", 25),
        ("note", 20),
        ("fast_reminder", 10),
    ]
    assert await counters_match_rows(engine, tokens.tenant)
    assert mine(await retention_service.cleanup(factory), tokens.tenant) == {}
    badge = await committed_client.get(
        "/api/events/activity-feed/unread-count/", headers=tokens.headers("bob")
    )
    assert badge.json()["unread_count"] == 3


async def test_overrides_the_type_flag_and_older_than_days(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob")
    for days in (3, 20):
        await post(committed_client, tokens, slug, "note", days, text="n")
        await post(committed_client, tokens, slug, "fast_start", days, fast_name="Lent")
    await committed_client.put(
        "/api/admin/retention/",
        json={"feed": {"overrides": {"note": 10}}},
        headers=tokens.headers("root", roles=["admin"]),
    )
    only_notes = await retention_service.cleanup(factory, activity_type="note")
    assert mine(only_notes, tokens.tenant) == {"note": 1}
    assert not only_notes.partitions  # one type never takes whole months
    older = await retention_service.cleanup(factory, older_than_days=5, dry_run=True)
    assert mine(older, tokens.tenant) == {"fast_start": 1}
    assert sorted(k for k, _ in await feed_of(engine, tokens.tenant, "bob")) == [
        "fast_start",
        "fast_start",
        "note",
    ]
    assert await counters_match_rows(engine, tokens.tenant)


async def test_a_month_past_every_policy_goes_whole(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob", "carol")
    days = days_back(6)
    await post(committed_client, tokens, slug, "note", days, text="very old")
    await post(committed_client, tokens, slug, "note", days - 1, text="very old too")
    await post(committed_client, tokens, slug, "note", 1, text="fresh")
    async with factory() as session, session.begin():  # the job that moves strays
        await partition_service.ensure_ahead(session, months_ahead=1)
    month = f"feed_items_p{(NOW - timedelta(days=days)):%Y%m}"
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT to_regclass(:p) IS NOT NULL"), {"p": month})
    dry = await retention_service.cleanup(factory, dry_run=True)
    assert month in dry.partitions
    done = await retention_service.cleanup(factory)
    assert month in done.partitions
    assert mine(done, tokens.tenant)["note"] == 4  # two events, two followers
    assert mine(dry, tokens.tenant) == mine(done, tokens.tenant)  # the month counted once
    async with engine.connect() as conn:
        assert not await conn.scalar(text("SELECT to_regclass(:p) IS NOT NULL"), {"p": month})
    assert await feed_of(engine, tokens.tenant, "bob") == [("note", 1)]
    assert await counters_match_rows(engine, tokens.tenant)


async def test_a_month_left_half_retired_by_a_crash_is_finished_by_the_next_run(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """The month leaves the feed at once; its counters come down a batch of one tenant's
    users at a time. A run that dies between batches leaves the counters over by what is
    left; the next run resumes at the batch it reached and ends exact, the month archived."""
    slug = await setup_feed(committed_client, tokens, "bob", "carol", "dave")
    days = days_back(7)
    await post(committed_client, tokens, slug, "note", days, text="old")
    await post(committed_client, tokens, slug, "note", 1, text="fresh")
    other = f"{tokens.tenant}-b"  # sorts after the first tenant, with users of the same names
    other_slug = await setup_feed(committed_client, tokens, "bob", "carol", tenant=other)
    await post(committed_client, tokens, other_slug, "note", days, tenant=other, text="old")
    month, name = await retire_month(factory, days)  # the first run's first steps
    async with factory() as session, session.begin():
        row = await session.get(RetiringPartition, name)
        assert row is not None
        first = await RetentionRepository(session).uncount_retiring(row, 1)
        second = await RetentionRepository(session).uncount_retiring(row, 10)
    # bob's item came off; then carol's and dave's, the batch stopping at the tenant's end
    assert first == [(tokens.tenant, "note", 1)]
    assert second == [(tokens.tenant, "note", 2)]
    # then the run died. The month is out of the feed at once; the counters still hold
    # what is left of it
    assert await feed_of(engine, tokens.tenant, "bob") == [("note", 1)]
    assert await feed_of(engine, other, "bob") == []
    assert await counters_match_rows(engine, tokens.tenant)
    assert not await counters_match_rows(engine, other)

    done = await retention_service.cleanup(factory, archive=True, older_than_days=3650)
    assert month in done.partitions
    assert done.rows[(other, "note")] == 2
    assert await counters_match_rows(engine, tokens.tenant)
    assert await counters_match_rows(engine, other)
    async with engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM retiring_partitions WHERE name = :n"), {"n": name}
        )
        archived = await conn.scalar(
            text(
                "SELECT count(*) FROM feed_items_archive WHERE tenant_id = :t"
                " AND tableoid = CAST(:p AS regclass)"
            ),
            {"t": tokens.tenant, "p": month.replace("feed_items", "feed_items_archive", 1)},
        )
    assert left == 0
    assert archived == 3  # the three followers' items of that month, attached whole
    # (and the other tenant's two)
    assert await feed_of(engine, tokens.tenant, "bob") == [("note", 1)]


async def retire_a_month(
    client: AsyncClient,
    tokens: Tokens,
    factory: async_sessionmaker[AsyncSession],
    years: int,
) -> tuple[str, str]:
    """A month `years` back with three followers' items of one event, retired
    (`retire_month`); the month's name and its retiring table's."""
    slug = await setup_feed(client, tokens, "bob", "carol", "dave")
    days = days_back(years)
    await post(client, tokens, slug, "note", days, text="old")
    return await retire_month(factory, days)


async def test_a_retiring_month_goes_into_an_archive_that_has_that_month_already(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """An archive run's row batches can make the archive's partition of a month while
    that month is retiring: its rows are then copied in, not attached."""
    month, name = await retire_a_month(committed_client, tokens, factory, years=8)
    archived_month = month.replace("feed_items", "feed_items_archive", 1)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE {archived_month} PARTITION OF feed_items_archive FOR VALUES"
                f" FROM ('{month[-6:-2]}-{month[-2:]}-01') TO"
                f" ('{month[-6:-2]}-{month[-2:]}-01'::date + interval '1 month')"
            )
        )
    dry = await retention_service.cleanup(factory, dry_run=True, older_than_days=3650)
    assert month in dry.partitions
    assert mine(dry, tokens.tenant) == {"note": 3}  # what is left of it, counted

    done = await retention_service.cleanup(factory, archive=True, older_than_days=3650)
    assert month in done.partitions
    assert not done.failed
    assert mine(done, tokens.tenant) == {"note": 3}
    assert await counters_match_rows(engine, tokens.tenant)
    async with engine.connect() as conn:
        archived = await conn.scalar(
            text(
                "SELECT count(*) FROM feed_items_archive WHERE tenant_id = :t"
                " AND tableoid = CAST(:p AS regclass)"
            ),
            {"t": tokens.tenant, "p": archived_month},
        )
        assert not await conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})
    assert archived == 3


async def test_a_retiring_month_that_fails_does_not_stop_the_rest_of_the_run(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """A retiring month whose table cannot be read (here: gone) is reported, left for the
    next run, and the run goes on with every other month and tenant."""
    slug = await setup_feed(committed_client, tokens, "bob")
    await post(committed_client, tokens, slug, "note", 400, text="past its year")
    broken = RetiringPartition(
        name="feed_items_p190001_retiring",
        parent="feed_items",
        partition="feed_items_p190001",
        archive=False,
        lo=datetime(1900, 1, 1, tzinfo=UTC),
        hi=datetime(1900, 2, 1, tzinfo=UTC),
    )
    async with factory() as session, session.begin():
        session.add(broken)
    try:
        done = await retention_service.cleanup(factory)
        assert "feed_items_p190001_retiring" in done.failed
        assert mine(done, tokens.tenant) == {"note": 1}  # the rest of the run went ahead
        assert await feed_of(engine, tokens.tenant, "bob") == []
        async with engine.connect() as conn:
            kept = await conn.scalar(
                text("SELECT count(*) FROM retiring_partitions WHERE name = :n"),
                {"n": "feed_items_p190001_retiring"},
            )
        assert kept == 1  # for the next run (or an operator) to see
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM retiring_partitions WHERE name = 'feed_items_p190001_retiring'")
            )


async def test_archiving_moves_items_out_of_the_feed_into_the_archive(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob")
    for days in (150, 160, 2):
        await post(committed_client, tokens, slug, "note", days, text="n")
    moved = await retention_service.cleanup(factory, older_than_days=100, archive=True)
    assert mine(moved, tokens.tenant) == {"note": 2}
    assert await feed_of(engine, tokens.tenant, "bob") == [("note", 2)]
    async with engine.connect() as conn:
        archived = await conn.scalar(
            text("SELECT count(*) FROM feed_items_archive WHERE tenant_id = :t"),
            {"t": tokens.tenant},
        )
    assert archived == 2
    assert await counters_match_rows(engine, tokens.tenant)


async def test_soft_deleted_events_go_after_their_grace_with_their_feed_items(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob")
    keep = await post(committed_client, tokens, slug, "note", 1, text="kept")
    doomed = await post(committed_client, tokens, slug, "note", 1, text="deleted")
    recent = await post(committed_client, tokens, slug, "note", 1, text="deleted lately")
    for event in (doomed, recent):
        gone = await committed_client.delete(
            f"/api/v1/activities/timeline/{event['id']}/", headers=tokens.headers()
        )
        assert gone.status_code == 204, gone.text
    async with engine.begin() as conn:  # deleted 40 days ago: past the 30-day grace
        await conn.execute(
            text("UPDATE events SET deleted_at = now() - interval '40 days' WHERE id = :id"),
            {"id": doomed["id"]},
        )
    dry = await retention_service.cleanup(factory, dry_run=True)
    assert dry.events[f"{tokens.tenant}:deleted"] == 1
    done = await retention_service.cleanup(factory)
    assert done.events[f"{tokens.tenant}:deleted"] == 1
    async with engine.connect() as conn:
        left = set(
            await conn.scalars(
                text("SELECT id::text FROM events WHERE tenant_id = :t"), {"t": tokens.tenant}
            )
        )
    assert left == {keep["id"], recent["id"]}
    assert len(await feed_of(engine, tokens.tenant, "bob")) == 2
    assert await counters_match_rows(engine, tokens.tenant)


async def test_cleanup_beside_ingest_loses_nothing_in_policy_and_runs_once(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob", "carol", "dave")
    for n in range(30):
        await post(committed_client, tokens, slug, "note", 300 + n, text="old")

    async def ingest() -> int:
        for n in range(25):
            await post(committed_client, tokens, slug, "note", 0.01, text=f"new {n}")
        return 25

    posted, first, second = await asyncio.gather(
        ingest(), retention_service.cleanup(factory), retention_service.cleanup(factory)
    )
    assert [first.skipped, second.skipped].count(True) == 1  # the other one waited its turn
    ran = second if first.skipped else first
    assert mine(ran, tokens.tenant) == {"note": 90}
    for user in ("bob", "carol", "dave"):
        assert len(await feed_of(engine, tokens.tenant, user)) == posted
    assert await counters_match_rows(engine, tokens.tenant)


async def test_an_archive_batch_that_fails_moves_nothing(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob")
    event = await post(committed_client, tokens, slug, "note", 800, text="two years and more")
    async with engine.begin() as conn:  # the archive already holds a row with its key
        await conn.execute(
            text(
                "INSERT INTO events_archive (id, occurred_at, tenant_id, stream_id, event_type)"
                " SELECT id, occurred_at, tenant_id, stream_id, event_type FROM events"
                " WHERE id = :id"
            ),
            {"id": event["id"]},
        )
    done = await retention_service.archive_events(factory)
    assert "duplicate key" in done.failed[tokens.tenant]  # reported; other tenants go on
    async with engine.begin() as conn:
        live = await conn.scalar(
            text("SELECT count(*) FROM events WHERE id = :id"), {"id": event["id"]}
        )
        archived = await conn.scalar(
            text("SELECT count(*) FROM events_archive WHERE id = :id"), {"id": event["id"]}
        )
        await conn.execute(text("DELETE FROM events_archive WHERE id = :id"), {"id": event["id"]})
    assert (live, archived) == (1, 1)  # the delete and the insert were one: both undone


async def test_events_past_two_years_move_to_the_archive_and_admins_can_list_them(
    committed_client: AsyncClient,
    tokens: Tokens,
    engine: AsyncEngine,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    slug = await setup_feed(committed_client, tokens)
    old = await post(committed_client, tokens, slug, "note", 800, text="old")
    new = await post(committed_client, tokens, slug, "note", 5, text="new")
    dry = await retention_service.archive_events(factory, dry_run=True)
    assert dry.rows[(tokens.tenant, "events")] == 1
    done = await retention_service.archive_events(factory)
    assert done.rows[(tokens.tenant, "events")] == 1
    admin = tokens.headers("root", roles=["admin"])
    live = (await committed_client.get("/api/v1/activities/", headers=admin)).json()
    assert [e["id"] for e in live["results"]] == [new["id"]]
    both = await committed_client.get(
        "/api/v1/activities/", params={"include_archived": "true"}, headers=admin
    )
    assert both.status_code == 200, both.text
    assert [e["id"] for e in both.json()["results"]] == [new["id"], old["id"]]
    assert both.json()["count"] == 2
    plain = await committed_client.get(
        "/api/v1/activities/", params={"include_archived": "true"}, headers=tokens.headers()
    )
    assert plain.status_code == 403
    searched = await committed_client.get(
        "/api/v1/activities/", params={"include_archived": "true", "q": "old"}, headers=admin
    )
    assert searched.status_code == 422


async def test_stats_for_admins_and_the_database_for_operators(
    committed_client: AsyncClient, tokens: Tokens
) -> None:
    slug = await setup_feed(committed_client, tokens, "bob", "carol")
    for _ in range(3):
        await post(committed_client, tokens, slug, "note", 1, text="n")
    admin = tokens.headers("root", roles=["admin"])
    stats = (await committed_client.get("/api/admin/stats/", headers=admin)).json()
    assert stats["tenant"]["feed_items"] == 6
    assert stats["tenant"]["unread"] == 6
    assert stats["tenant"]["users_with_feeds"] == 2
    assert stats["tenant"]["events"] == 3
    assert stats["tenant"]["outbox_pending"] == 0
    assert [u["user_id"] for u in stats["top_users"]] == ["bob", "carol"]
    assert stats["tables"] is None
    one = await committed_client.get("/api/admin/stats/", params={"user_id": "bob"}, headers=admin)
    assert one.json()["user"] == {
        "user_id": "bob",
        "total_items": 3,
        "unread_count": 3,
        "read_count": 0,
        "activity_types": {"note": 3},
    }
    operator = tokens.headers("ops", roles=["admin", "operator"])
    tables = (await committed_client.get("/api/admin/stats/", headers=operator)).json()["tables"]
    feed = next(t for t in tables if t["name"] == "feed_items")
    ranges = [p["range"] for p in feed["partitions"]]
    assert "DEFAULT" in ranges
    assert any(r.startswith("FOR VALUES FROM") for r in ranges)
    assert (
        await committed_client.get("/api/admin/stats/", headers=tokens.headers())
    ).status_code == 403


def test_the_commands_refuse_bad_flags_clearly() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["cleanup-activity-feeds", "--older-than-days", "-3"])
    assert bad.exit_code == 2
    assert "older-than-days" in bad.output
    missing = runner.invoke(cli, ["archive-activity-feeds"])
    assert missing.exit_code == 2
    assert "older-than-days" in missing.output
