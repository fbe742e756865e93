from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.errors import problem_response
from app.db import ping
from app.logging import log

router = APIRouter(tags=["operations"])
READY_TIMEOUT = 2.0


@router.get("/healthz", summary="Process is up", response_model=dict[str, str])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="PostgreSQL and Redis are reachable",
    response_model=dict[str, str],
    responses={503: {"description": "A dependency is unreachable"}},
)
async def readyz(request: Request) -> dict[str, str] | Response:
    checks: dict[str, str] = {}

    async def database() -> None:
        await ping(request.app.state.engine)

    async def redis() -> None:
        await request.app.state.redis.ping()

    for name, check in (("database", database), ("redis", redis)):
        try:
            await asyncio.wait_for(check(), READY_TIMEOUT)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready
            log.warning("readyz.failed", dependency=name, error=str(exc))
            checks[name] = "unavailable"
    if any(v != "ok" for v in checks.values()):
        return problem_response(503, "not_ready", "dependencies unavailable", extra=checks)
    return {"status": "ok", **checks}
