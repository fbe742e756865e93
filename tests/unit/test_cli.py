from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from app.auth import TokenVerifier
from app.cli import cli
from app.settings import Environment, Settings, get_settings

SECRET = "cli-test-secret-0123456789abcdefghij"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TIDINGS_JWT_SECRET", SECRET)
    monkeypatch.setenv("TIDINGS_ENVIRONMENT", "test")
    monkeypatch.delenv("TIDINGS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("env")
def test_token_command_prints_a_token_the_service_accepts() -> None:
    result = CliRunner().invoke(cli, ["token", "--tenant", "acme", "--user", "u7", "--admin"])
    assert result.exit_code == 0, result.output
    settings = Settings(environment=Environment.test, jwt_secret=SECRET)  # type: ignore[arg-type]
    principal = TokenVerifier(settings).verify(result.stdout.strip())
    assert (principal.tenant_id, principal.user_id, principal.is_admin) == ("acme", "u7", True)


@pytest.mark.usefixtures("env")
def test_token_command_refuses_a_bad_tenant() -> None:
    result = CliRunner().invoke(cli, ["token", "--tenant", "no spaces", "--user", "u"])
    assert result.exit_code == 2


@pytest.mark.usefixtures("env")
def test_migrate_without_a_database_url_says_so() -> None:
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 2
    assert "TIDINGS_DATABASE_URL" in result.output


def test_token_command_explains_it_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDINGS_JWT_SECRET", raising=False)
    monkeypatch.setenv("TIDINGS_ENVIRONMENT", "test")
    monkeypatch.setenv("TIDINGS_JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["token", "--tenant", "acme", "--user", "u"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "TIDINGS_JWT_SECRET" in result.output


@pytest.mark.usefixtures("env")
def test_demo_without_a_database_url_says_so() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 2
    assert "TIDINGS_DATABASE_URL" in result.output
