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
