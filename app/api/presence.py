"""Seed 003's presence over REST: who is connected to an object right now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api.deps import CurrentUser
from app.api.errors import ProblemError, problem_responses
from app.schemas.live import PresenceList
from app.services.presence import PresenceService, StreamDirectory

router = APIRouter(prefix="/api/presence", tags=["live"])


@router.get(
    "/",
    summary="Who is here",
    description="The users connected (over WebSockets, on any API process) to a host "
    "object's stream, `object_type` + `object_id`, or to a stream by `stream` slug: "
    "up to 100 by arrival, with `current_page`, `session_start`, `last_seen` and "
    "`is_active` (seen within 5 minutes). The same list `connection_established` carries.",
    response_model=PresenceList,
    responses=problem_responses(401, 404, 422),
)
async def presence(
    request: Request,
    user: CurrentUser,
    object_type: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    object_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    stream: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> dict[str, Any]:
    directory: StreamDirectory = request.app.state.directory
    if stream is not None and object_type is None and object_id is None:
        found = await directory.by_slug(user.tenant_id, stream)
    elif stream is None and object_type is not None and object_id is not None:
        found = await directory.by_object(user.tenant_id, object_type, object_id)
    else:
        raise ProblemError(
            422,
            "validation_failed",
            "query: give object_type and object_id, or stream",
            errors=[
                {
                    "loc": ["query", "object_id" if object_type else "object_type"],
                    "msg": "give object_type and object_id, or stream",
                    "type": "value_error",
                }
            ],
        )
    if found is None:
        raise ProblemError(404, "not_found", "no such object or stream")
    service: PresenceService = request.app.state.presence
    count, present, _ = await service.present(found)
    return {"object": found.describe(), "present_count": count, "results": present}
