"""Seed 002's per-user activity feed: `/api/events/activity-feed/...`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api.activities import Window
from app.api.deps import CurrentUser, Paging, Session
from app.api.errors import problem_responses
from app.api.listing import list_body
from app.api.streams import EventTypesQuery, split_types
from app.models import FeedItem
from app.repositories.feeds import FeedFilter
from app.schemas.feeds import (
    FeedItemRead,
    FeedList,
    FeedSummaryRead,
    MarkReadBody,
    MarkReadResult,
)
from app.services.event_types import event_type_service
from app.services.feeds import feed_service

router = APIRouter(prefix="/api/events/activity-feed", tags=["feed"])


def age_display(at: datetime, now: datetime) -> str:
    seconds = max(int((now - at).total_seconds()), 0)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    if seconds < 7 * 86400:
        return f"{seconds // 86400}d ago"
    return at.strftime("%b %-d, %Y")


async def feed_items(session: Session, tenant_id: str, items: list[FeedItem]) -> list[FeedItemRead]:
    types = await event_type_service.resolve(session, tenant_id, {i.activity_type for i in items})
    now = datetime.now(UTC)
    return [
        FeedItemRead.model_validate(
            {
                "id": item.id,
                "activity_type": item.activity_type,
                "activity_type_display": types[item.activity_type].label
                if item.activity_type in types
                else item.activity_type,
                "title": item.title,
                "description": item.description,
                "is_read": item.is_read,
                "read_at": item.read_at,
                "created_at": item.created_at,
                "age_display": age_display(item.created_at, now),
                "data": item.data,
                "target_type": item.target_type,
                "target_id": item.target_id,
                "event_id": item.event_id,
                "stream_id": item.stream_id,
            }
        )
        for item in items
    ]


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
    session: Session,
    user: CurrentUser,
    paging: Paging,
    dates: Window,
    activity_type: EventTypesQuery = None,
    is_read: bool | None = None,
    start_date: Annotated[datetime | None, Query(description="ISO instant; naive is UTC.")] = None,
    end_date: Annotated[datetime | None, Query(description="ISO instant; naive is UTC.")] = None,
) -> dict[str, Any]:
    since, until = dates
    since = start_date.replace(tzinfo=start_date.tzinfo or UTC) if start_date else since
    until = end_date.replace(tzinfo=end_date.tzinfo or UTC) if end_date else until
    filters = FeedFilter(
        activity_types=split_types(activity_type), is_read=is_read, since=since, until=until
    )
    page = await feed_service.page(session, actor=user, filters=filters, page=paging)
    return list_body(request, page, paging, await feed_items(session, user.tenant_id, page.items))


@router.get(
    "/summary/",
    summary="Your feed's counts",
    description="Totals per activity type and the five newest items; the counts come from "
    "counters kept with the items, not from counting rows.",
    response_model=FeedSummaryRead,
    responses=problem_responses(401),
)
async def summary(session: Session, user: CurrentUser) -> FeedSummaryRead:
    result = await feed_service.summary(session, actor=user)
    return FeedSummaryRead(
        total_items=result.total_items,
        unread_count=result.unread_count,
        read_count=result.total_items - result.unread_count,
        activity_types=result.activity_types,
        recent_activity=await feed_items(session, user.tenant_id, result.recent),
    )


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
