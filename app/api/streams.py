"""Seed 000's stream endpoints: `/api/streams/...`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.api.deps import CurrentUser, NumberedPaging, Paging, Session
from app.api.errors import problem_responses, unwrap
from app.api.listing import list_body
from app.api.subscriptions import subscription_read
from app.enums import Importance, StreamType
from app.repositories.events import EventFilter
from app.repositories.streams import StreamFilter
from app.schemas.common import PaginatedList
from app.schemas.events import EventRead, EventSearchHit, StreamEventCreate
from app.schemas.feeds import MarkReadResult, SubscribeBody, SubscriptionRead
from app.schemas.streams import StreamCreate, StreamRead
from app.services.events import StreamTarget, event_service
from app.services.feeds import subscription_service
from app.services.streams import stream_service

router = APIRouter(prefix="/api/streams", tags=["streams"])

SlugPath = Annotated[str, Path(max_length=200, description="The stream's slug.")]


def split_types(values: list[str] | None) -> list[str]:
    """`?event_type=a&event_type=b` and `?event_type=a,b` both mean a or b."""
    return sorted({v.strip().lower() for raw in values or [] for v in raw.split(",") if v.strip()})


EventTypesQuery = Annotated[
    list[str] | None,
    Query(max_length=50, description="Repeat or comma-separate to match several types."),
]


@router.get(
    "/",
    summary="List streams",
    response_model=PaginatedList[StreamRead],
    responses=problem_responses(401, 422),
)
async def list_streams(
    request: Request,
    session: Session,
    user: CurrentUser,
    paging: Paging,
    stream_type: StreamType | None = None,
    is_active: bool | None = None,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    filters = StreamFilter(stream_type, is_active, object_type, object_id)
    page = unwrap(await stream_service.list_page(session, actor=user, filters=filters, page=paging))
    results = [StreamRead.model_validate(s) for s in page.items]
    return list_body(request, page, paging, results)


@router.post(
    "/",
    summary="Create a stream",
    status_code=status.HTTP_201_CREATED,
    response_model=StreamRead,
    responses=problem_responses(401, 409, 422),
)
async def create_stream(body: StreamCreate, session: Session, user: CurrentUser) -> StreamRead:
    stream = unwrap(await stream_service.create(session, actor=user, new=body))
    return StreamRead.model_validate(stream)


@router.get(
    "/search/",
    summary="Search events",
    description="PostgreSQL full-text search (English stemming, ranked) over each event's "
    "summary, description and the text in its data. `q` takes web-search syntax: "
    '`"exact phrase"`, `-excluded`, `or`.',
    response_model=PaginatedList[EventSearchHit],
    responses=problem_responses(401, 404, 422),
)
async def search_events(
    request: Request,
    session: Session,
    user: CurrentUser,
    paging: NumberedPaging,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Search words.")],
    stream: Annotated[
        str | None, Query(max_length=200, description="Only this stream (slug).")
    ] = None,
    event_type: EventTypesQuery = None,
) -> dict[str, Any]:
    filters = EventFilter(text=q, event_types=split_types(event_type))
    page = unwrap(
        await event_service.search(session, actor=user, filters=filters, slug=stream, page=paging)
    )
    results = [EventSearchHit.model_validate(hit) for hit in page.items]
    return list_body(request, page, paging, results)


@router.get(
    "/my_feed/",
    summary="Events of the streams you follow",
    description="Seed 000's personalised feed: events of your followed streams at or above "
    "each subscription's `min_importance` (muted ones excluded), newest first, keyset paged.",
    response_model=PaginatedList[EventRead],
    responses=problem_responses(401, 422),
)
async def my_feed(
    request: Request, session: Session, user: CurrentUser, paging: Paging
) -> dict[str, Any]:
    page = await event_service.page(
        session, user.tenant_id, None, EventFilter(subscriber=user.user_id), paging
    )
    return list_body(request, page, paging, [EventRead.model_validate(v) for v in page.items])


@router.get(
    "/{slug}/",
    summary="Get a stream",
    response_model=StreamRead,
    responses=problem_responses(401, 404),
)
async def get_stream(slug: SlugPath, session: Session, user: CurrentUser) -> StreamRead:
    return StreamRead.model_validate(
        unwrap(await stream_service.get(session, actor=user, slug=slug))
    )


@router.post(
    "/{slug}/add_event/",
    summary="Add an event to a stream",
    description="Records an event (seed 000's `stream.add_event`). `metadata` is the event's "
    "data, validated against its type's schema. With an `idempotency_key` already used, "
    "the original event is returned with status 200.",
    status_code=status.HTTP_201_CREATED,
    response_model=EventRead,
    responses={
        200: {"description": "Replayed: the event recorded earlier with this key"},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def add_event(
    slug: SlugPath, body: StreamEventCreate, session: Session, user: CurrentUser, response: Response
) -> EventRead:
    recorded = unwrap(
        await event_service.record(session, actor=user, target=StreamTarget(slug), new=body),
        location="body",
    )
    if recorded.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return EventRead.model_validate(recorded.event)


@router.get(
    "/{slug}/events/",
    summary="List a stream's events",
    description="Newest first. Page with `cursor` (keyset, any depth at constant cost) or "
    "`page` (numbered, for DRF clients).",
    response_model=PaginatedList[EventRead],
    responses=problem_responses(401, 404, 422),
)
async def stream_events(
    request: Request,
    slug: SlugPath,
    session: Session,
    user: CurrentUser,
    paging: Paging,
    event_type: EventTypesQuery = None,
    min_importance: Annotated[
        str | None,
        Query(
            pattern="^(?i)(low|normal|high|critical)$", description="low, normal, high or critical"
        ),
    ] = None,
    since: Annotated[datetime | None, Query(description="Occurred at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Occurred before (ISO 8601).")] = None,
) -> dict[str, Any]:
    importance = Importance.parse(min_importance) if min_importance else None
    filters = EventFilter(
        event_types=split_types(event_type),
        min_importance=int(importance) if importance else None,
        since=since,
        until=until,
    )
    page = unwrap(
        await event_service.list_for_stream(
            session, actor=user, slug=slug, filters=filters, page=paging
        )
    )
    return list_body(request, page, paging, [EventRead.model_validate(v) for v in page.items])


@router.post(
    "/{slug}/subscribe/",
    summary="Follow a stream",
    description="Creates or updates your subscription (seed 000's `subscribe`): 201 when "
    "new, 200 when an existing one was updated. Events at or above `min_importance` reach "
    "your feed from now on.",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionRead,
    responses={
        200: {"description": "An existing subscription was updated"},
        **problem_responses(401, 404, 422),
    },
)
async def subscribe(
    slug: SlugPath, body: SubscribeBody, session: Session, user: CurrentUser, response: Response
) -> SubscriptionRead:
    view, created = unwrap(
        await subscription_service.subscribe(
            session,
            actor=user,
            slug=slug,
            subscription_type=body.subscription_type,
            notify_email=body.notify_email,
            notify_push=body.notify_push,
            min_importance=Importance.parse(body.min_importance),
        )
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return subscription_read(view)


@router.post(
    "/{slug}/unsubscribe/",
    summary="Stop following a stream",
    response_model=MarkReadResult,
    responses=problem_responses(401, 404),
)
async def unsubscribe(slug: SlugPath, session: Session, user: CurrentUser) -> MarkReadResult:
    removed = unwrap(await subscription_service.unsubscribe(session, actor=user, slug=slug))
    message = "Unsubscribed" if removed else "Not subscribed"
    return MarkReadResult(message=message, updated_count=int(removed))


@router.post(
    "/{slug}/mark_read/",
    summary="Mark a stream read",
    description="Marks your feed items from this stream read and sets the subscription's "
    "`last_read_at`.",
    response_model=MarkReadResult,
    responses=problem_responses(401, 404),
)
async def mark_stream_read(slug: SlugPath, session: Session, user: CurrentUser) -> MarkReadResult:
    count = unwrap(await subscription_service.mark_stream_read(session, actor=user, slug=slug))
    return MarkReadResult(message=f"Marked {count} items as read", updated_count=count)
