from __future__ import annotations

import time
from datetime import datetime, tzinfo

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth import AuthError, TokenVerifier, mint_token, principal_from_claims
from app.settings import Environment, Settings

SECRET = "unit-secret-with-enough-entropy-0123456789"


def _settings(**overrides: object) -> Settings:
    return Settings(environment=Environment.test, jwt_secret=SECRET, **overrides)  # type: ignore[arg-type]


def test_minted_token_verifies_to_its_claims() -> None:
    settings = _settings()
    token = mint_token(
        settings,
        tenant_id="acme",
        user_id="u1",
        roles=["admin"],
        email="a@example.com",
        given_name="Ada",
        family_name="Byron",
    )
    principal = TokenVerifier(settings).verify(token)
    assert (principal.tenant_id, principal.user_id) == ("acme", "u1")
    assert principal.is_admin
    assert (principal.email, principal.first_name, principal.last_name) == (
        "a@example.com",
        "Ada",
        "Byron",
    )


def test_token_signed_with_another_secret_is_refused() -> None:
    token = jwt.encode(
        {"sub": "u1", "tenant_id": "acme", "exp": int(time.time()) + 60},
        "other-secret-0123456789abcdef0123",
        "HS256",
    )
    with pytest.raises(AuthError, match="Signature"):
        TokenVerifier(_settings()).verify(token)


def test_expired_token_is_refused() -> None:
    token = jwt.encode(
        {"sub": "u1", "tenant_id": "acme", "exp": int(time.time()) - 3600}, SECRET, "HS256"
    )
    with pytest.raises(AuthError, match="expired"):
        TokenVerifier(_settings()).verify(token)


def test_token_without_exp_is_refused_by_default() -> None:
    token = jwt.encode({"sub": "u1", "tenant_id": "acme"}, SECRET, "HS256")
    with pytest.raises(AuthError, match="exp"):
        TokenVerifier(_settings()).verify(token)


def test_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "u1", "tenant_id": "acme", "exp": 9999999999}, None, "none")  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="not accepted"):
        TokenVerifier(_settings()).verify(token)


def test_garbage_is_refused() -> None:
    with pytest.raises(AuthError):
        TokenVerifier(_settings()).verify("not.a.token")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"sub": "u1"}, "tenant_id"),
        ({"sub": "u1", "tenant_id": "has space"}, "tenant_id"),
        ({"sub": "u1", "tenant_id": "x" * 65}, "tenant_id"),
        ({"sub": "", "tenant_id": "acme"}, "sub"),
        ({"sub": "u1", "tenant_id": "acme", "roles": "admin"}, "roles"),
        ({"sub": "u1", "tenant_id": "acme", "email": 7}, "email"),
    ],
)
def test_unusable_claims_are_refused(claims: dict[str, object], message: str) -> None:
    with pytest.raises(AuthError, match=message):
        principal_from_claims(claims)


def test_name_claim_fills_first_and_last_name() -> None:
    principal = principal_from_claims(
        {"sub": "u", "tenant_id": "t", "name": "Grace Brewster Hopper"}
    )
    assert (principal.first_name, principal.last_name) == ("Grace", "Brewster Hopper")


def test_rs256_token_verifies_with_configured_public_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = Settings(environment=Environment.test, jwt_public_key=public_pem)
    claims = {"sub": "idp-user", "tenant_id": "acme", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, key, algorithm="RS256")
    assert TokenVerifier(settings).verify(token).user_id == "idp-user"
    # With only a public key configured, an HS256 token (even one signed with the PEM
    # text as secret, the classic confusion attack) is refused.
    forged = jwt.encode(claims, "forged-secret-0123456789abcdef01234", algorithm="HS256")
    with pytest.raises(AuthError, match="not accepted"):
        TokenVerifier(settings).verify(forged)


def test_production_refuses_placeholder_secret() -> None:
    with pytest.raises(ValueError, match="real secret"):
        Settings(
            environment=Environment.production,
            jwt_secret="changeme",  # type: ignore[arg-type]
            database_url="postgresql://db/x",
            redis_url="redis://r:6379/0",
        )


def test_verified_tokens_are_remembered_only_until_they_expire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings()
    verifier = TokenVerifier(settings)
    token = mint_token(settings, tenant_id="acme", user_id="u1", ttl_seconds=60)
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # served from memory
    later = time.time() + 3600

    class Later(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.fromtimestamp(later, tz)

    monkeypatch.setattr("app.auth.time.time", lambda: later)
    monkeypatch.setattr("jwt.api_jwt.datetime", Later)
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(token)
