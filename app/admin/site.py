"""The admin site at /admin (sqladmin): a token login, the model pages of `views`, and a
dashboard of the growth figures with a chart of events per day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqladmin import Admin
from sqladmin.authentication import login_required
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from app.admin.auth import TokenLogin, current
from app.admin.views import VIEWS, Wiring, bound
from app.logging import log
from app.result import Ok
from app.services.stats import stats_service
from app.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
CHART_DAYS = 30


class TidingsAdmin(Admin):
    def __init__(self, app: FastAPI, wiring: Wiring, **kwargs: Any) -> None:
        self.wiring = wiring
        super().__init__(app, **kwargs)

    @login_required
    async def index(self, request: Request) -> Response:
        """The dashboard: the tenant's figures from its counters, its largest feeds, the
        events of the last 30 days, and (for operators) every table and partition."""
        user = current(request)
        actor = user.actor()
        async with self.wiring.factory() as session:
            stats = await stats_service.stats(session, actor=actor)
            days = await stats_service.events_per_day(session, actor=actor, days=CHART_DAYS)
        figures = stats.data if isinstance(stats, Ok) else None
        per_day = days.data if isinstance(days, Ok) else []
        peak = max((n for _, n in per_day), default=0)
        context = {
            "title": "Dashboard",
            "subtitle": f"tenant {user.tenant_id}" + (" · super-admin" if user.superuser else ""),
            "user": user,
            "stats": figures,
            "per_day": per_day,
            "peak": peak,
            "total_days": sum(n for _, n in per_day),
        }
        return await self.templates.TemplateResponse(request, "tidings/dashboard.html", context)


def install_admin(
    app: FastAPI,
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    prepare: Any,
) -> TidingsAdmin | None:
    """Mounts the site at /admin (unless `TIDINGS_ADMIN_ENABLED=false`, or in production
    with neither an admin session secret nor an HS256 secret to derive one from)."""
    if not settings.admin_enabled:
        return None
    secret = settings.admin_secret()
    if secret is None:
        log.warning("admin.disabled", reason="set TIDINGS_ADMIN_SESSION_SECRET")
        return None
    # The site's reads get a factory of their own: sqladmin reconfigures the one it gets.
    reads = async_sessionmaker(class_=factory.class_, **{**factory.kw, "expire_on_commit": False})
    wiring = Wiring(factory=factory, prepare=prepare)
    admin = TidingsAdmin(
        app,
        wiring,
        session_maker=reads,
        base_url="/admin",
        title="Tidings admin",
        templates_dir=str(TEMPLATES),
        authentication_backend=TokenLogin(
            settings, app.state.verifier, secret, factory, app.state.known_users
        ),
    )
    for view in VIEWS:
        admin.add_view(bound(view, wiring))
    return admin
