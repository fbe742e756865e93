"""The event-type catalogue: built-in types and the tenant's own."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import CurrentUser, Session
from app.api.errors import problem_responses, unwrap
from app.schemas.event_types import EventTypeCreate, EventTypeList, EventTypeRead
from app.services.event_types import ResolvedType, event_type_service

router = APIRouter(prefix="/api/event-types", tags=["event types"])


def _read(type_: ResolvedType) -> EventTypeRead:
    return EventTypeRead(
        key=type_.key,
        label=type_.label,
        description=type_.description,
        icon=type_.icon,
        category=type_.category,
        summary_template=type_.summary_template,
        default_importance=type_.default_importance.name,
        builtin=type_.builtin,
        data_schema=type_.data_schema,
    )


@router.get(
    "/",
    summary="List event types",
    description="Built-in types of seeds 000-003 and the tenant's registered types, each with "
    "the JSON Schema its `data` must satisfy.",
    response_model=EventTypeList,
    responses=problem_responses(401),
)
async def list_event_types(session: Session, user: CurrentUser) -> EventTypeList:
    types = await event_type_service.catalog(session, user.tenant_id)
    return EventTypeList(count=len(types), results=[_read(t) for t in types])


@router.post(
    "/",
    summary="Register a tenant event type (admin)",
    status_code=status.HTTP_201_CREATED,
    response_model=EventTypeRead,
    responses=problem_responses(401, 403, 409, 422),
)
async def register_event_type(
    body: EventTypeCreate, session: Session, user: CurrentUser
) -> EventTypeRead:
    return _read(
        unwrap(await event_type_service.register(session, actor=user, new=body), location="body")
    )
