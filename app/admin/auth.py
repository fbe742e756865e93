"""Signing in to the admin site with a token: the same JWT the API takes, from a tenant
admin (or a configured super-admin), turned into a signed session cookie."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqladmin.authentication import AuthenticationBackend
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.auth import ADMIN_ROLE, OPERATOR_ROLE, AuthError, Principal, TokenVerifier
from app.logging import log
from app.services.users import user_service
from app.settings import Environment, Settings

SESSION_KEY = "tidings"
SESSION_SECONDS = 8 * 3600
MAX_TOKEN_CHARS = 16_384


@dataclass(frozen=True, slots=True)
class AdminUser:
    """Who is signed in: a tenant admin sees their tenant's rows; a super-admin, all."""

    tenant_id: str
    user_id: str
    roles: frozenset[str]
    superuser: bool

    def actor(self, tenant_id: str | None = None) -> Principal:
        """The principal the services see for a change to a row of `tenant_id` (a
        super-admin is also an operator: the database's tables are theirs to see)."""
        extra = {ADMIN_ROLE, OPERATOR_ROLE} if self.superuser else {ADMIN_ROLE}
        return Principal(
            tenant_id=tenant_id or self.tenant_id,
            user_id=self.user_id,
            roles=self.roles | extra,
        )

    @property
    def sees_database(self) -> bool:
        """Tables and partitions are every tenant's: operators and super-admins see them."""
        return self.superuser or OPERATOR_ROLE in self.roles


def signed_in(request: Request) -> AdminUser | None:
    """The session's admin, if the session is good and not past its end."""
    if "session" not in request.scope:
        return None
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        if float(data["until"]) <= time.time():
            return None
        return AdminUser(
            tenant_id=str(data["tenant"]),
            user_id=str(data["user"]),
            roles=frozenset(str(r) for r in data["roles"]),
            superuser=bool(data["super"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def current(request: Request) -> AdminUser:
    """The signed-in admin of a request past the login check."""
    user = signed_in(request)
    if user is None:  # login_required ran first; a session cannot vanish in between
        raise PermissionError("not signed in")
    return user


class TokenLogin(AuthenticationBackend):
    """The login form takes a token; the session lasts as long as the token does, at
    most eight hours, in a cookie signed with the admin secret and scoped to /admin."""

    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier,
        secret: str,
        factory: async_sessionmaker[AsyncSession],
        known_users: dict[Any, Any],
    ) -> None:
        super().__init__(
            secret_key=secret,
            session_cookie="tidings_admin",
            max_age=SESSION_SECONDS,
            path="/admin",
            same_site="strict",
            https_only=settings.environment is Environment.production,
        )
        self._verifier = verifier
        self._superusers = frozenset(settings.admin_superusers)
        self._factory = factory
        self._known_users = known_users

    async def login(self, request: Request) -> bool:
        form = await request.form()
        token = form.get("token")
        if not isinstance(token, str) or not token.strip():
            request.state.login_error = "Paste a token: the JWT you use for the API."
            return False
        if len(token) > MAX_TOKEN_CHARS:
            request.state.login_error = "That is too long to be a token."
            return False
        try:
            principal, expires = self._verifier.verified(token.strip())
        except AuthError as exc:
            request.state.login_error = f"The token was refused: {exc}."
            return False
        superuser = f"{principal.tenant_id}/{principal.user_id}" in self._superusers
        if not principal.is_admin and not superuser:
            request.state.login_error = "The admin site is for tenant admins (the admin role)."
            return False
        await user_service.ensure_known(self._factory, principal, self._known_users)
        request.session[SESSION_KEY] = {
            "tenant": principal.tenant_id,
            "user": principal.user_id,
            "roles": sorted(principal.roles),
            "super": superuser,
            "until": min(expires, time.time() + SESSION_SECONDS),
        }
        log.info(
            "admin.signed_in",
            tenant=principal.tenant_id,
            user=principal.user_id,
            superuser=superuser,
        )
        return True

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse(request.url_for("admin:login"), status_code=302)

    async def authenticate(self, request: Request) -> bool:
        return signed_in(request) is not None

    async def get_user_id(self, request: Request) -> Any:
        user = signed_in(request)
        return None if user is None else f"{user.tenant_id}/{user.user_id}"
