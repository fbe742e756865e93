"""Bearer-token verification: a JWT in, a `Principal(tenant, user, roles)` out.

HS256 with `TIDINGS_JWT_SECRET` by default; RS256 (or ES256) with `TIDINGS_JWT_PUBLIC_KEY`
for production identity providers. Claims: `sub`, `tenant_id`, `roles`, and optional
`email`, `given_name`, `family_name`, `name`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.types import Options

from app.settings import Settings

TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
ADMIN_ROLE = "admin"
SERVICE_ROLE = "service"
# Runs the installation: sees the database's own figures (all tenants' tables).
OPERATOR_ROLE = "operator"


class AuthError(Exception):
    """The token is missing, malformed, expired or its claims are unusable."""


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def is_operator(self) -> bool:
        return OPERATOR_ROLE in self.roles

    @property
    def may_act_for_others(self) -> bool:
        """Host back ends (service role) and admins may record events on a user's behalf."""
        return ADMIN_ROLE in self.roles or SERVICE_ROLE in self.roles


def _optional_str(claims: dict[str, Any], key: str, limit: int) -> str | None:
    value = claims.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise AuthError(f"claim {key!r} must be a string of at most {limit} characters")
    return value or None


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255 or "\x00" in sub:
        raise AuthError("claim 'sub' must be a non-empty string")
    tenant = claims.get("tenant_id")
    if not isinstance(tenant, str) or not TENANT_ID.match(tenant):
        raise AuthError("claim 'tenant_id' must be 1-64 characters of [A-Za-z0-9._:-]")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("claim 'roles' must be a list of strings")
    first = _optional_str(claims, "given_name", 150)
    last = _optional_str(claims, "family_name", 150)
    name = _optional_str(claims, "name", 300)
    if name and not (first or last):
        first, _, rest = name.partition(" ")
        last = rest or None
    return Principal(
        tenant_id=tenant,
        user_id=sub,
        roles=frozenset(roles),
        email=_optional_str(claims, "email", 320),
        first_name=first,
        last_name=last,
        name=name,
    )


class TokenVerifier:
    """Verifies tokens, remembering each good one until it expires: a client sends the
    same token with every request, and a signature check costs more than the lookup."""

    CACHE_LIMIT = 10_000

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._keys: dict[str, Any] = {}
        if settings.jwt_public_key:
            self._keys.update(
                dict.fromkeys(("RS256", "RS384", "RS512", "ES256"), settings.jwt_public_key)
            )
        if settings.jwt_secret is not None or settings.jwt_public_key is None:
            self._keys["HS256"] = settings.signing_secret()

    def verify(self, token: str) -> Principal:
        return self.verified(token)[0]

    def verified(self, token: str) -> tuple[Principal, float]:
        """The token's principal and when the token expires (epoch seconds)."""
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if time.time() < expires:
                return remembered
            del self._verified[token]
        principal, expires = self._verify(token)
        if len(self._verified) >= self.CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal, expires

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self._keys:
                raise AuthError(f"token algorithm {algorithm!r} is not accepted")
            required = ["sub", "exp"] if self._settings.jwt_require_exp else ["sub"]
            options: Options = {"require": required}
            claims = jwt.decode(
                token,
                self._keys[algorithm],
                algorithms=[algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options=options,
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise AuthError(str(exc)) from exc
        exp = claims.get("exp")
        # Without an exp claim (when not required), re-verify after a minute.
        expires = float(exp) if isinstance(exp, int | float) else time.time() + 60
        return principal_from_claims(claims), expires


def mint_token(
    settings: Settings,
    *,
    tenant_id: str,
    user_id: str,
    roles: list[str] | None = None,
    email: str | None = None,
    given_name: str | None = None,
    family_name: str | None = None,
    ttl_seconds: int = 30 * 24 * 3600,
) -> str:
    """A development HS256 token (what `tidings token` prints)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "tenant_id": tenant_id,
        "roles": roles or [],
        "iat": now,
        "exp": now + ttl_seconds,
    }
    for key, value in (("email", email), ("given_name", given_name), ("family_name", family_name)):
        if value:
            claims[key] = value
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    principal_from_claims(claims)  # refuse to mint what we would not accept
    return jwt.encode(claims, settings.signing_secret(), algorithm="HS256")
