"""Seed 002's per-user activity feed: `/api/events/activity-feed/...`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.api.activities import Window
from app.api.deps import CurrentUser, Paging, Reads, Session
from app.api.errors import problem_responses, unwrap
from app.api.listing import list_body
from app.api.responses import json_response
from app.api.streams import EventTypesQuery, split_types
from app.repositories.feeds import FeedFilter
from app.schemas.events import EventFields
from app.schemas.feeds import (
    FeedList,
    FeedSummaryRead,
    GenerateBody,
    GenerateResult,
    MarkReadBody,
    MarkReadResult,
    NotifyBody,
    NotifyResult,
    UnreadCountRead,
)
from app.services.feeds import feed_service
from app.services.notifications import notification_service

router = APIRouter(prefix="/api/events/activity-feed", tags=["feed"])


@router.get(
    "/",
    summary="Your activity feed",
    description="Seed 002's feed: every event delivered to you, newest first, with read "
    "state. Filter by `activity_type`, `is_read`, `start_date`/`end_date` (aliases of "
    "`date_from`/`date_to`); page with `page` or `cursor`.",
    response_model=FeedList,
    responses=problem_responses(401, 422),
)
async def feed(
    request: Request,
    reads: Reads,
    user: CurrentUser,
    paging: Paging,
    dates: Window,
    activity_type: EventTypesQuery = None,
    is_read: bool | None = None,
    start_date: Annotated[datetime | None, Query(description="ISO instant; naive is UTC.")] = None,
    end_date: Annotated[datetime | None, Query(description="ISO instant; naive is UTC.")] = None,
) -> Response:
    since, until = dates
    since = start_date.replace(tzinfo=start_date.tzinfo or UTC) if start_date else since
    until = end_date.replace(tzinfo=end_date.tzinfo or UTC) if end_date else until
    filters = FeedFilter(
        activity_types=split_types(activity_type), is_read=is_read, since=since, until=until
    )
    page = await feed_service.page(reads, actor=user, filters=filters, page=paging)
    items = await feed_service.payloads(
        request.app.state.session_factory, user.tenant_id, page.items
    )
    return json_response(list_body(request, page, paging, items))


@router.get(
    "/summary/",
    summary="Your feed's counts",
    description="Totals per activity type and the five newest items; the counts come from "
    "counters kept with the items, not from counting rows.",
    response_model=FeedSummaryRead,
    responses=problem_responses(401),
)
async def summary(request: Request, reads: Reads, user: CurrentUser) -> Response:
    result = await feed_service.summary(reads, actor=user)
    return json_response(
        {
            "total_items": result.total_items,
            "unread_count": result.unread_count,
            "read_count": result.total_items - result.unread_count,
            "activity_types": result.activity_types,
            "recent_activity": await feed_service.payloads(
                request.app.state.session_factory, user.tenant_id, result.recent
            ),
        }
    )


@router.get(
    "/unread-count/",
    summary="Your unread count (the badge)",
    description="How many of your feed items are unread, in all and per activity type: "
    "one read of the counters kept with the items (no rows counted), for clients that "
    "poll a badge. The notifications WebSocket pushes the same as `unread_count`.",
    response_model=UnreadCountRead,
    responses=problem_responses(401),
)
async def unread_count(reads: Reads, user: CurrentUser) -> Response:
    by_type = await feed_service.unread_by_type(reads, actor=user)
    return json_response({"unread_count": sum(by_type.values()), "by_type": by_type})


@router.post(
    "/mark-read/",
    summary="Mark feed items read",
    description="`{activity_ids: [...]}` (up to 1000 of your items; others' ids match "
    "nothing) or `{mark_all: true}`.",
    response_model=MarkReadResult,
    responses=problem_responses(401, 422),
)
async def mark_read(body: MarkReadBody, session: Session, user: CurrentUser) -> MarkReadResult:
    count = await feed_service.mark_read(
        session, actor=user, ids=None if body.mark_all else body.activity_ids or []
    )
    return MarkReadResult(message=f"Marked {count} items as read", updated_count=count)


@router.post(
    "/generate/",
    summary="Backfill a user's feed (admin)",
    description="Seed 002's `generate`: delivers the events of the streams the user "
    "follows from the last `days_back` days that their feed lacks.",
    response_model=GenerateResult,
    responses=problem_responses(401, 403, 404, 422),
)
async def generate(body: GenerateBody, session: Session, user: CurrentUser) -> GenerateResult:
    done = unwrap(
        await feed_service.generate(
            session, actor=user, user_id=body.user_id, days_back=body.days_back
        ),
        location="body",
    )
    return GenerateResult(
        message=f"Generated {done.created} activity feed items for user {done.user_id}",
        created_count=done.created,
        date_range={"start": done.start, "end": done.end},
    )


@router.post(
    "/notify/",
    summary="Send a notification (admin or service)",
    description="Creates a feed item for each of `user_ids` and/or every subscriber of "
    "`stream`, through the same fan-out as events (it is recorded as an event of "
    "`activity_type`, validated against that type's schema).",
    status_code=status.HTTP_201_CREATED,
    response_model=NotifyResult,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def notify(body: NotifyBody, session: Session, user: CurrentUser) -> NotifyResult:
    fields = EventFields.model_validate(
        {
            "event_type": body.activity_type,
            "summary": body.title,
            "description": body.description,
            "data": body.data,
            "importance": body.importance,
            "idempotency_key": body.idempotency_key,
            "recipients": body.user_ids,
        }
    )
    notified = unwrap(
        await notification_service.notify(session, actor=user, slug=body.stream, fields=fields),
        location="body",
    )
    return NotifyResult(
        message="Notification sent", event_id=notified.event.id, stream=notified.event.stream
    )
