"""The `tidings` command: dev, serve, worker, migrate, token, services, demo."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel

from app.settings import Environment, Settings, get_settings

if TYPE_CHECKING:
    from app.services.feeds import Backfill
    from app.services.retention import Removed

cli = typer.Typer(
    help="Tidings: activity streams, feeds, milestones and live updates.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


@contextlib.contextmanager
def _services(
    settings: Settings, *, fast: bool = False, recreate: bool = False, database: str = "tidings"
) -> Iterator[Settings]:
    """Settings pointing at the configured servers, or at embedded ones started for the
    duration (and stopped on exit) when no URL is configured."""
    if settings.database_url and settings.redis_url:
        yield settings
        return
    if settings.environment is Environment.production:
        raise typer.BadParameter("production needs TIDINGS_DATABASE_URL and TIDINGS_REDIS_URL")
    from app.embedded import services

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        stack = services(
            settings.data_dir,
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            database=database,
            fast=fast,
            recreate=recreate,
        )
        urls = stack.__enter__()
    try:
        os.environ["TIDINGS_DATABASE_URL"] = urls.database_url or ""
        os.environ["TIDINGS_REDIS_URL"] = urls.redis_url or ""
        get_settings.cache_clear()
        yield settings.model_copy(
            update={"database_url": urls.database_url, "redis_url": urls.redis_url}
        )
    finally:
        stack.__exit__(None, None, None)


def _migrate(settings: Settings) -> None:
    from app.schema import upgrade

    upgrade(settings)


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision and create partitions ahead."""
    settings = get_settings()
    if settings.database_url is None:
        console.print("[red]TIDINGS_DATABASE_URL is not set[/red]")
        raise typer.Exit(2)
    _migrate(settings)
    console.print("[green]schema is up to date[/green]")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API and WebSockets with uvicorn (`--factory app.main:create_app`)."""
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ws_per_message_deflate=False,
        access_log=False,
        proxy_headers=True,
    )


@cli.command()
def worker() -> None:
    """Run the background worker (arq): fan-out, outbox sweeps and cron jobs."""
    from app.workers.runner import run_forever

    run_forever(get_settings())


@cli.command()
def token(
    tenant: Annotated[str, typer.Option(help="Tenant id (the `tenant_id` claim).")],
    user: Annotated[str, typer.Option(help="User id (the `sub` claim).")],
    admin: Annotated[bool, typer.Option(help="Grant the admin role.")] = False,
    role: Annotated[list[str] | None, typer.Option(help="Extra roles (repeatable).")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
    ttl_days: Annotated[int, typer.Option(min=1, max=3650)] = 30,
) -> None:
    """Print a development bearer token (HS256 with TIDINGS_JWT_SECRET)."""
    from app.auth import AuthError, mint_token

    settings = get_settings()
    if settings.jwt_secret is None and (
        settings.jwt_public_key or settings.environment is Environment.production
    ):
        console.print(
            "[red]tokens are minted with TIDINGS_JWT_SECRET (HS256); with only a public key "
            "configured, tokens come from your identity provider[/red]"
        )
        raise typer.Exit(2)
    roles = sorted({*(role or []), *(["admin"] if admin else [])})
    try:
        print(
            mint_token(
                settings,
                tenant_id=tenant,
                user_id=user,
                roles=roles,
                email=email,
                given_name=first_name,
                family_name=last_name,
                ttl_seconds=ttl_days * 86400,
            )
        )
    except AuthError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


async def _load_demo(settings: Settings) -> int:
    from app.db import create_engine, create_session_factory
    from app.services.demo import load_demo

    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            return await load_demo(session)
    finally:
        await engine.dispose()


@cli.command()
def demo() -> None:
    """Load the small demo data set (idempotent)."""
    settings = get_settings()
    if settings.database_url is None:
        console.print("[red]TIDINGS_DATABASE_URL is not set[/red]")
        raise typer.Exit(2)
    count = asyncio.run(_load_demo(settings))
    console.print(f"demo data: {count} new events")


@cli.command("populate-activity-feeds")
def populate_activity_feeds(
    user_id: Annotated[str | None, typer.Option(help="Only this user.")] = None,
    days_back: Annotated[int, typer.Option(min=1, max=3650, help="How far back.")] = 30,
    dry_run: Annotated[bool, typer.Option(help="Count what would be created.")] = False,
) -> None:
    """Fill feeds with the events of followed streams that they lack (seed 002)."""
    settings = get_settings()
    if settings.database_url is None:
        console.print("[red]TIDINGS_DATABASE_URL is not set[/red]")
        raise typer.Exit(2)
    done = asyncio.run(_populate(settings, user_id, days_back, dry_run))
    verb = "would create" if dry_run else "created"
    for item in done:
        console.print(f"{item.tenant_id}/{item.user_id}: {verb} {item.created}")
    console.print(f"[bold]{len(done)} users, {verb} {sum(d.created for d in done)} items[/bold]")


async def _populate(
    settings: Settings, user_id: str | None, days_back: int, dry_run: bool
) -> list[Backfill]:
    from rich.progress import Progress

    from app.db import create_engine, create_session_factory
    from app.services.feeds import feed_service

    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("populating", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await feed_service.populate(
                create_session_factory(engine),
                user_id=user_id,
                days_back=days_back,
                dry_run=dry_run,
                progress=advance,
            )
    finally:
        await engine.dispose()


def _database_or_exit(settings: Settings) -> None:
    if settings.database_url is None:
        console.print("[red]TIDINGS_DATABASE_URL is not set[/red]")
        raise typer.Exit(2)


def _report(removed: Removed, *, dry_run: bool, noun: str) -> None:
    from rich.table import Table

    if removed.skipped:
        console.print("[yellow]skipped: another run of this job is going on[/yellow]")
        return
    verb = f"would be {noun}" if dry_run else noun
    table = Table("tenant", "what", verb)
    for (tenant_id, kind), n in sorted(removed.rows.items()):
        table.add_row(tenant_id, kind, f"{n:,}")
    for key, n in sorted(removed.events.items()):
        tenant_id, _, label = key.partition(":")
        table.add_row(tenant_id, label, f"{n:,}")
    console.print(table)
    if removed.partitions:
        console.print(f"whole months: {', '.join(removed.partitions)}")
    if removed.outbox:
        console.print(f"processed outbox rows pruned: {removed.outbox:,}")
    for tenant_id, problem in sorted(removed.failed.items()):
        console.print(f"[red]{tenant_id}: failed, nothing of that batch moved: {problem}[/red]")
    console.print(f"[bold]{removed.total:,} feed items {verb}[/bold]")


async def _retention(
    settings: Settings, run: Callable[..., Awaitable[Removed]], **kwargs: Any
) -> Removed:
    from rich.progress import Progress

    from app.db import create_engine, create_session_factory

    engine = create_engine(settings, pool_size=2, max_overflow=0)
    try:
        with Progress(console=console, transient=True) as progress:
            tasks: dict[str, Any] = {}

            def advance(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = progress.add_task(what, total=total)
                progress.update(tasks[what], completed=done, total=total)

            return await run(create_session_factory(engine), progress=advance, **kwargs)
    finally:
        await engine.dispose()


@cli.command("cleanup-activity-feeds")
def cleanup_activity_feeds(
    dry_run: Annotated[
        bool, typer.Option(help="Report what would be removed; change nothing.")
    ] = False,
    activity_type: Annotated[
        str | None, typer.Option(help="Only feed items of this type (no whole months then).")
    ] = None,
    older_than_days: Annotated[
        int | None,
        typer.Option(min=1, max=36_500, help="Instead of each type's retention: this many days."),
    ] = None,
) -> None:
    """Remove what is past its retention (seed 002's cleanup_activity_feeds): feed items by
    their type's policy, soft-deleted events after their grace, processed outbox rows."""
    from app.services.retention import retention_service

    settings = get_settings()
    _database_or_exit(settings)
    if activity_type is not None and (not activity_type.strip() or len(activity_type) > 100):
        raise typer.BadParameter("an activity type of 1 to 100 characters")
    removed = asyncio.run(
        _retention(
            settings,
            retention_service.cleanup,
            dry_run=dry_run,
            activity_type=activity_type,
            older_than_days=older_than_days,
        )
    )
    _report(removed, dry_run=dry_run, noun="removed")


@cli.command("archive-activity-feeds")
def archive_activity_feeds(
    older_than_days: Annotated[
        int, typer.Option(min=1, max=36_500, help="Move feed items older than this many days.")
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Report what would be moved; change nothing.")
    ] = False,
) -> None:
    """Move old feed items to feed_items_archive (seed 002's archive_old_items): whole
    months where they can, row by row otherwise; they leave the feed and its counts."""
    from app.services.retention import retention_service

    settings = get_settings()
    _database_or_exit(settings)
    removed = asyncio.run(
        _retention(
            settings,
            retention_service.cleanup,
            dry_run=dry_run,
            older_than_days=older_than_days,
            archive=True,
        )
    )
    _report(removed, dry_run=dry_run, noun="archived")


@cli.command("archive-events")
def archive_events(
    older_than_days: Annotated[
        int | None,
        typer.Option(min=1, max=36_500, help="Instead of each tenant's archive age (2 years)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Report what would be moved.")] = False,
) -> None:
    """Move events older than their tenant's archive age to events_archive (seed 001)."""
    from app.services.retention import retention_service

    settings = get_settings()
    _database_or_exit(settings)

    async def run(factory: Any, progress: Any, **kwargs: Any) -> Removed:
        return await retention_service.archive_events(factory, **kwargs)

    removed = asyncio.run(
        _retention(settings, run, older_than_days=older_than_days, dry_run=dry_run)
    )
    for (tenant_id, _), n in sorted(removed.rows.items()):
        console.print(f"{tenant_id}: {'would move' if dry_run else 'moved'} {n:,} events")
    console.print(f"[bold]{removed.total:,} events[/bold]")


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def services(
    ctx: typer.Context,
    test: Annotated[
        bool,
        typer.Option(help="Test mode: non-durable settings, a recreated test database."),
    ] = False,
) -> None:
    """Run a command with PostgreSQL and Redis available: the configured servers, or
    embedded ones started for it. The command sees TIDINGS_DATABASE_URL/REDIS_URL (and,
    with --test, TIDINGS_TEST_DATABASE_URL/REDIS_URL)."""
    if not ctx.args:
        raise typer.BadParameter("give a command to run, e.g. `tidings services -- pytest`")
    settings = get_settings()
    if test:
        settings = settings.model_copy(
            update={
                "database_url": os.environ.get("TIDINGS_TEST_DATABASE_URL"),
                "redis_url": os.environ.get("TIDINGS_TEST_REDIS_URL"),
                "data_dir": settings.data_dir / "test",
            }
        )
    with _services(settings, fast=test, database="tidings_test" if test else "tidings") as live:
        env = dict(os.environ)
        if test:
            env["TIDINGS_TEST_DATABASE_URL"] = live.database_url or ""
            env["TIDINGS_TEST_REDIS_URL"] = live.redis_url or ""
        code = subprocess.call(ctx.args, env=env)
    raise typer.Exit(code)


@cli.command()
def dev(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """`make run`: embedded servers if none configured, migrate, demo data, then the API
    and the worker in one process until Ctrl-C."""
    logging.basicConfig(level=logging.WARNING)
    # uvicorn re-raises the signal it stopped on; make SIGTERM unwind like Ctrl-C so the
    # embedded servers are stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    settings = get_settings()
    if "TIDINGS_LOG_JSON" not in os.environ:
        settings = settings.model_copy(update={"log_json": False})
    with _services(settings) as live:
        console.print("[bold]migrating[/bold] ...")
        _migrate(live)
        count = asyncio.run(_load_demo(live))
        from app.auth import mint_token
        from app.services.demo import DEMO_ADMIN

        bearer = mint_token(
            live,
            tenant_id=DEMO_ADMIN.tenant_id,
            user_id=DEMO_ADMIN.user_id,
            roles=["admin"],
            email=DEMO_ADMIN.email,
            given_name=DEMO_ADMIN.first_name,
            family_name=DEMO_ADMIN.last_name,
        )
        base = f"http://{host}:{port}"
        token_file = live.data_dir / "token"
        token_file.write_text(bearer + "\n")
        console.print(
            Panel.fit(
                f"[bold green]Tidings is running[/bold green]  ({count} demo events loaded)\n\n"
                f"API      {base}\nDocs     {base}/docs  (Authorize with the token below)\n"
                f"Demo     {base}/demo\nAdmin    {base}/admin  (sign in with the token below)\n"
                f"Ready    {base}/readyz\n\n"
                f"Bearer token for tenant 'demo', user 'ada' (admin), also in {token_file}:",
                title="make run",
            )
        )
        print(bearer, flush=True)
        console.print(
            f'\nTry: curl -H "Authorization: Bearer $(cat {token_file})" {base}/api/streams/\n'
        )
        asyncio.run(_run_api_and_worker(live, host, port))


async def _run_api_and_worker(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app.main import create_app
    from app.workers.runner import running_in_background

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=host,
            port=port,
            ws_per_message_deflate=False,
            access_log=False,
            log_level="warning",
        )
    )
    async with running_in_background(settings):
        await server.serve()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    sys.exit(cli())


if __name__ == "__main__":
    main()
