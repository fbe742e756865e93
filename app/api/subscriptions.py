"""Seed 000's subscriptions: `/api/subscriptions/...`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import CurrentUser, Reads, Session
from app.api.errors import problem_responses, unwrap
from app.api.milestones import milestone_read
from app.api.responses import json_response
from app.enums import Importance
from app.pagination import PageRequest
from app.repositories.events import EventFilter
from app.schemas.events import EventRead
from app.schemas.feeds import (
    DashboardRead,
    MarkReadResult,
    SubscriptionList,
    SubscriptionRead,
    UnreadCountsRead,
)
from app.services.events import event_service
from app.services.feeds import SubscriptionView, feed_service, subscription_service
from app.services.milestones import milestone_service

router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])
SubscriptionId = Annotated[uuid.UUID, Path(alias="id", description="The subscription.")]


def subscription_read(view: SubscriptionView) -> SubscriptionRead:
    sub = view.subscription
    return SubscriptionRead(
        id=sub.id,
        stream=view.stream.slug,
        stream_id=view.stream.id,
        stream_name=view.stream.name,
        subscription_type=sub.subscription_type,
        notify_email=sub.notify_email,
        notify_push=sub.notify_push,
        min_importance=Importance(sub.min_importance).name,
        last_read_at=sub.last_read_at,
        unread_count=view.unread_count,
        created_at=sub.created_at,
    )


@router.get(
    "/",
    summary="Your subscriptions",
    response_model=SubscriptionList,
    responses=problem_responses(401),
)
async def list_subscriptions(session: Session, user: CurrentUser) -> SubscriptionList:
    views = await subscription_service.mine(session, actor=user)
    return SubscriptionList(count=len(views), results=[subscription_read(v) for v in views])


@router.get(
    "/unread_counts/",
    summary="Your unread counts",
    description="The total and per activity type (from counters), and per subscription.",
    response_model=UnreadCountsRead,
    responses=problem_responses(401),
)
async def unread_counts(reads: Reads, user: CurrentUser) -> Response:
    counts = await subscription_service.unread_counts(reads, actor=user)
    return json_response(
        {
            "total_unread": counts.total,
            "by_type": counts.by_type,
            "subscriptions": [
                {"id": sid, "stream": slug, "unread_count": unread}
                for sid, slug, unread in counts.subscriptions
            ],
        }
    )


@router.get(
    "/dashboard/",
    summary="Your dashboard",
    description="Seed 000's `get_user_dashboard`: subscription count, unread total, the "
    "newest events of followed streams, assigned milestones and subscriptions.",
    response_model=DashboardRead,
    responses=problem_responses(401),
)
async def dashboard(session: Session, reads: Reads, user: CurrentUser) -> DashboardRead:
    views = await subscription_service.mine(session, actor=user)
    total_unread = sum((await feed_service.unread_by_type(reads, actor=user)).values())
    milestones = await milestone_service.assigned(session, actor=user)
    recent = await event_service.page(
        session, user.tenant_id, None, EventFilter(subscriber=user.user_id), PageRequest(10)
    )
    return DashboardRead(
        subscription_count=len(views),
        total_unread=total_unread,
        recent_events=[EventRead.model_validate(e) for e in recent.items],
        assigned_milestones=[milestone_read(m).model_dump(mode="json") for m in milestones],
        subscriptions=[subscription_read(v) for v in views],
    )


@router.get(
    "/{id}/",
    summary="One of your subscriptions",
    response_model=SubscriptionRead,
    responses=problem_responses(401, 404, 422),
)
async def get_subscription(
    subscription_id: SubscriptionId, session: Session, user: CurrentUser
) -> SubscriptionRead:
    view = unwrap(
        await subscription_service.get(session, actor=user, subscription_id=subscription_id)
    )
    return subscription_read(view)


@router.post(
    "/{id}/mark_read/",
    summary="Mark a subscription's stream read",
    response_model=MarkReadResult,
    responses=problem_responses(401, 404, 422),
)
async def mark_read(
    subscription_id: SubscriptionId, session: Session, user: CurrentUser
) -> MarkReadResult:
    count = unwrap(
        await subscription_service.mark_subscription_read(
            session, actor=user, subscription_id=subscription_id
        )
    )
    return MarkReadResult(message=f"Marked {count} items as read", updated_count=count)
