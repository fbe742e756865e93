from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from app.pagination import Cursor
from app.settings import Environment, Settings, to_asyncpg_dsn, to_sqlalchemy_url


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h:5432/db", "postgres://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"],
)
def test_usual_postgres_url_forms_map_to_asyncpg(url: str) -> None:
    assert to_sqlalchemy_url(url) == "postgresql+asyncpg://u@h:5432/db"
    assert to_asyncpg_dsn(url) == "postgresql://u@h:5432/db"


def test_non_postgres_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="postgresql"):
        Settings(environment=Environment.test, database_url="mysql://u@h/db")


def test_non_redis_url_is_refused() -> None:
    with pytest.raises(ValueError, match="redis"):
        Settings(environment=Environment.test, redis_url="http://h:6379")


def test_cursor_round_trips() -> None:
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), uuid.uuid4())
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("token", ["", "@@@", "bm90IGpzb24", "WzEsMl0", "WyIyMDI2LTAxLTAxIiwieCJd"])
def test_foreign_cursor_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        Cursor.decode(token)


def test_admin_superusers_are_tenant_slash_user() -> None:
    assert Settings(environment=Environment.test, admin_superusers=["ops/olga"]).admin_superusers
    with pytest.raises(ValueError, match="tenant/user"):
        Settings(environment=Environment.test, admin_superusers=["olga"])


def test_the_admin_cookie_key_derives_from_the_jwt_secret_unless_set() -> None:
    one = Settings(environment=Environment.test, jwt_secret=SecretStr("s3cret-one"))
    two = Settings(environment=Environment.test, jwt_secret=SecretStr("s3cret-two"))
    derived = one.admin_secret()
    assert derived is not None
    assert derived == one.admin_secret()
    assert derived not in (two.admin_secret(), "s3cret-one")  # not the JWT secret itself
    own = Settings(
        environment=Environment.test,
        jwt_secret=SecretStr("x"),
        admin_session_secret=SecretStr("cookie"),
    )
    assert own.admin_secret() == "cookie"
    # production with tokens from an identity provider only: nothing to derive from
    idp = Settings(
        environment=Environment.production,
        jwt_public_key="-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----",
        database_url="postgresql://u@h/db",
        redis_url="redis://h:6379/0",
    )
    assert idp.admin_secret() is None
