"""Configuration: every knob is a `TIDINGS_` environment variable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "secret", "change-me", "dev"})
DATA_DIR = Path(".data")


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class FanoutMode(StrEnum):
    sync = "sync"
    async_ = "async"


def to_sqlalchemy_url(url: str) -> str:
    """Accepts the usual `postgresql://` forms and returns the asyncpg dialect URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("expected a postgresql:// URL")


def to_asyncpg_dsn(url: str) -> str:
    """The plain libpq form asyncpg.connect() takes (no SQLAlchemy dialect)."""
    return "postgresql://" + to_sqlalchemy_url(url).removeprefix("postgresql+asyncpg://")


# 20,000 recipients a chunk: ~0.2 s of PostgreSQL work, few enough commits that a
# 100,000-subscriber fan-out spends its time inserting (docs/performance.md).
DEFAULT_FANOUT_CHUNK = 20_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="ignore")

    environment: Environment = Environment.development
    database_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host:5432/db; unset: embedded server (dev/test)",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0; unset: embedded server (dev/test)"
    )
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = Field(
        default=None, description="PEM public key; enables RS256 tokens from an identity provider"
    )
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_require_exp: bool = True
    fanout_mode: FanoutMode = FanoutMode.sync
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    # Connections held, none opened and closed per request: an overflow connection is
    # closed when it comes back to a full pool, so load above the pool's size opened a
    # PostgreSQL backend for every few requests (docs/decisions.md).
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    partitions_ahead_months: int = Field(default=3, ge=1, le=36)
    fanout_chunk_size: int = Field(
        default=DEFAULT_FANOUT_CHUNK,
        ge=1,
        le=100_000,
        description="Recipients per fan-out statement (and per worker transaction).",
    )
    idempotency_key_ttl_days: int = Field(
        default=7, ge=1, le=3650, description="How long a retried post is recognised."
    )
    ws_heartbeat_seconds: float = Field(
        default=25.0, gt=0, le=600, description="The server pings each socket this often."
    )
    ws_send_queue: int = Field(
        default=256, ge=8, le=100_000, description="Frames a socket may have waiting to go."
    )
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    ws_replay_limit: int = Field(
        default=500, ge=1, le=10_000, description="Missed events a reconnect may replay."
    )
    presence_ttl_seconds: float = Field(
        default=20.0, gt=0, le=3600, description="A connection not refreshed for this long is gone."
    )
    presence_refresh_seconds: float = Field(default=5.0, gt=0, le=600)
    retention_hour: int = Field(
        default=2, ge=0, le=23, description="UTC hour of the daily cleanup (seed 002: 2 AM)."
    )
    retention_minute: int = Field(default=0, ge=0, le=59)
    admin_enabled: bool = Field(default=True, description="Serve the operators' site at /admin.")
    admin_session_secret: SecretStr | None = Field(
        default=None,
        description="Signs the admin site's session cookie; unset: derived from the JWT secret.",
    )
    admin_superusers: list[str] = Field(
        default_factory=list,
        description='"tenant/user" ids whose admin sessions see every tenant\'s rows.',
    )
    data_dir: Path = DATA_DIR

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None:
            to_sqlalchemy_url(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis:// URL")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment is Environment.production:
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
            if self.jwt_public_key is None and (secret is None or secret in PLACEHOLDER_SECRETS):
                raise ValueError(
                    "TIDINGS_JWT_SECRET (or TIDINGS_JWT_PUBLIC_KEY) must be set to a real "
                    "secret in production"
                )
            if self.database_url is None or self.redis_url is None:
                raise ValueError(
                    "TIDINGS_DATABASE_URL and TIDINGS_REDIS_URL are required in production"
                )
        return self

    @field_validator("admin_superusers")
    @classmethod
    def _check_superusers(cls, value: list[str]) -> list[str]:
        for entry in value:
            tenant, _, user = entry.partition("/")
            if not tenant or not user:
                raise ValueError(f"{entry!r} is not tenant/user")
        return value

    def admin_secret(self) -> str | None:
        """The admin session cookie's key: its own setting, else one derived from the HS256
        secret (so rotating that signs every admin out too); None if neither exists."""
        if self.admin_session_secret is not None and self.admin_session_secret.get_secret_value():
            return self.admin_session_secret.get_secret_value()
        if self.jwt_secret is None and self.environment is Environment.production:
            return None
        key = self.signing_secret().encode()
        return hmac.new(key, b"tidings admin session", hashlib.sha256).hexdigest()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url is None:
            raise RuntimeError("TIDINGS_DATABASE_URL is not set and no embedded server is running")
        return to_sqlalchemy_url(self.database_url)

    def signing_secret(self) -> str:
        """The HS256 secret; in development an unset one is generated once and kept in .data/."""
        if self.jwt_secret is not None and self.jwt_secret.get_secret_value():
            return self.jwt_secret.get_secret_value()
        if self.environment is Environment.production:
            raise RuntimeError("TIDINGS_JWT_SECRET is not set")
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
