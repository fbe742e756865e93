"""Test infrastructure: real PostgreSQL and Redis, schema through Alembic.

`make test` runs pytest under `tidings services --test`, which provides
TIDINGS_TEST_DATABASE_URL / TIDINGS_TEST_REDIS_URL (embedded servers unless set). Run
directly, pytest starts embedded servers itself. The test database is dropped and
recreated at the start of the run.

Each test runs inside an outer transaction that is rolled back (the app's sessions join
it through savepoints); tests that need real commits (concurrency) use `committed_client`
and a tenant of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import mint_token
from app.db import create_engine
from app.embedded import ensure_database
from app.main import create_app
from app.schema import upgrade
from app.settings import Environment, Settings, to_asyncpg_dsn

ROOT = Path(__file__).resolve().parent.parent
_stack = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("TIDINGS_TEST_DATABASE_URL") and os.environ.get("TIDINGS_TEST_REDIS_URL"):
        return
    from app.embedded import services

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        urls = _stack.enter_context(
            services(
                ROOT / ".data" / "test",
                database_url=os.environ.get("TIDINGS_TEST_DATABASE_URL"),
                redis_url=os.environ.get("TIDINGS_TEST_REDIS_URL"),
                database="tidings_test",
                fast=True,
            )
        )
    os.environ["TIDINGS_TEST_DATABASE_URL"] = urls.database_url or ""
    os.environ["TIDINGS_TEST_REDIS_URL"] = urls.redis_url or ""


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()


def _recreate(database_url: str) -> None:
    parts = urlsplit(to_asyncpg_dsn(database_url))
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    asyncio.run(ensure_database(admin, name, recreate=True))


@pytest.fixture(scope="session")
def settings() -> Settings:
    database_url = os.environ["TIDINGS_TEST_DATABASE_URL"]
    redis_url = os.environ["TIDINGS_TEST_REDIS_URL"]
    settings = Settings(
        environment=Environment.test,
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret="test-secret-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
        log_json=False,
        log_level="WARNING",
        data_dir=ROOT / ".data" / "test",
    )
    _recreate(database_url)
    upgrade(settings)
    return settings


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, pool_size=5, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "")
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


@pytest.fixture
def session_factory(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
async def session(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
async def client(
    settings: Settings,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> AsyncIterator[AsyncClient]:
    app = create_app(settings, engine=engine, session_factory=session_factory, redis=redis)
    async with AsyncClient(transport=ASGITransport(app), base_url="http://test") as client:
        yield client


@pytest.fixture
async def committed_client(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> AsyncIterator[AsyncClient]:
    """A client whose requests really commit (for concurrency); use a fresh tenant."""
    app = create_app(settings, engine=engine, redis=redis)
    async with AsyncClient(transport=ASGITransport(app), base_url="http://test") as client:
        yield client


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


class Tokens:
    def __init__(self, settings: Settings, tenant: str) -> None:
        self.settings = settings
        self.tenant = tenant

    def headers(
        self,
        user: str = "alice",
        *,
        tenant: str | None = None,
        roles: list[str] | None = None,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, str]:
        token = mint_token(
            self.settings,
            tenant_id=tenant or self.tenant,
            user_id=user,
            roles=roles,
            email=email,
            given_name=first_name,
            family_name=last_name,
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(settings: Settings, tenant: str) -> Tokens:
    return Tokens(settings, tenant)


@pytest.fixture
def auth(tokens: Tokens) -> dict[str, str]:
    """Headers for alice, a plain user of this test's tenant."""
    return tokens.headers(
        "alice", email="alice@example.com", first_name="Alice", last_name="Liddell"
    )


@pytest.fixture
def admin(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("root", roles=["admin"])


@pytest.fixture
def outsider(tokens: Tokens) -> dict[str, str]:
    """Headers for a user of another tenant."""
    return tokens.headers("mallory", tenant=f"other-{uuid.uuid4().hex[:8]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "committed_client" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
