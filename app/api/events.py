"""Ingest for host back ends: one event for an object, or a batch of up to 1000."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import CurrentUser, Session
from app.api.errors import problem_responses, unwrap
from app.schemas.events import EventBatchCreate, EventBatchRead, EventCreate, EventRead
from app.services.events import ObjectTarget, event_service

router = APIRouter(prefix="/api/events", tags=["events"])


def _target(body: EventCreate) -> ObjectTarget:
    return ObjectTarget(body.object_type, body.object_id, body.stream_type, body.stream_name)


@router.post(
    "/",
    summary="Record an event for a host object",
    description="The object's stream is created on first use (seed 000's "
    "`get_or_create_for_object`). A retried post with the same `idempotency_key` returns "
    "the original event with status 200 instead of recording a duplicate.",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
    responses={
        200: {"description": "Replayed: the event recorded earlier with this key"},
        **problem_responses(401, 403, 409, 422),
    },
)
async def record_event(
    body: EventCreate, session: Session, user: CurrentUser, response: Response
) -> EventRead:
    recorded = unwrap(
        await event_service.record(session, actor=user, target=_target(body), new=body),
        location="body",
    )
    if recorded.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return EventRead.model_validate(recorded.event)


@router.post(
    "/batch/",
    summary="Record up to 1000 events in one transaction",
    description="All or nothing: if any item is invalid nothing is recorded and the 422 "
    "names every bad field as `events.<index>.<field>`. Results keep the input order.",
    status_code=status.HTTP_201_CREATED,
    response_model=EventBatchRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def record_batch(
    body: EventBatchCreate, session: Session, user: CurrentUser
) -> EventBatchRead:
    items = [(_target(item), item) for item in body.events]
    recorded = unwrap(
        await event_service.record_batch(session, actor=user, items=items), location="body"
    )
    created = sum(not r.replayed for r in recorded)
    return EventBatchRead(
        count=len(recorded),
        created=created,
        replayed=len(recorded) - created,
        results=[EventRead.model_validate(r.event) for r in recorded],
    )
