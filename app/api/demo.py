"""The demo page (`/demo`) and the browser client it is built on (`/static/tidings.js`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from app.api.errors import ProblemError, problem_responses
from app.auth import mint_token
from app.settings import Environment

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(tags=["live"])


@router.get("/demo", include_in_schema=False)
async def demo() -> FileResponse:
    return FileResponse(STATIC / "demo.html", media_type="text/html")


@router.get(
    "/demo/token",
    summary="A token for the demo (development only)",
    description="Mints a token for a user of the `demo` tenant that `make run` loads, so the "
    "demo page can sign in as two people. Answers 404 outside development and test.",
    response_model=dict[str, str],
    responses=problem_responses(404, 422),
)
async def demo_token(
    request: Request,
    user: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "ada",
) -> dict[str, str]:
    settings = request.app.state.settings
    if settings.environment not in (Environment.development, Environment.test):
        raise ProblemError(404, "not_found", "no such page")
    names = {"ada": ("Ada", "Lovelace"), "grace": ("Grace", "Hopper")}
    first, last = names.get(user, (user.capitalize(), None))
    token = mint_token(settings, tenant_id="demo", user_id=user, given_name=first, family_name=last)
    return {"token": token, "tenant": "demo", "user": user}
