"""Tenant administration over the API: the retention policy and growth figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import CurrentUser, Session
from app.api.errors import problem_responses, unwrap
from app.schemas.retention import (
    EventPolicyRead,
    FeedPolicyRead,
    RetentionRead,
    RetentionUpdate,
    StatsRead,
)
from app.services.retention import FEED_DEFAULTS, Policy, retention_service
from app.services.stats import stats_service

router = APIRouter(prefix="/api/admin", tags=["admin"])


async def _read(session: Session, tenant_id: str, policy: Policy) -> RetentionRead:
    known = await retention_service.known_types(session, tenant_id)
    return RetentionRead(
        feed=FeedPolicyRead(
            default_days=policy.feed_default_days,
            defaults=dict(FEED_DEFAULTS),
            overrides=dict(policy.feed_overrides),
            effective={k: policy.feed_days(k) for k in sorted(known)},
        ),
        events=EventPolicyRead(
            keep_days=dict(policy.event_days),
            deleted_grace_days=policy.deleted_grace_days,
            archive_after_days=policy.archive_events_after_days,
        ),
        updated_at=policy.updated_at,
    )


@router.get(
    "/retention/",
    summary="The retention policy (admin)",
    description="How long this tenant's feed items are kept per activity type (seed 002's "
    "defaults, overridden per type), how long events of a type are kept (forever unless "
    "set), the grace period of soft-deleted events (30 days) and the age at which events "
    "move to the archive (two years). The cleanup runs daily (TIDINGS_RETENTION_HOUR).",
    response_model=RetentionRead,
    responses=problem_responses(401, 403),
)
async def get_retention(session: Session, user: CurrentUser) -> RetentionRead:
    policy = unwrap(await retention_service.policy_for(session, actor=user))
    return await _read(session, user.tenant_id, policy)


@router.put(
    "/retention/",
    summary="Replace the retention policy (admin)",
    description="The whole policy: what is left out is the default again. Days are 1 to "
    "36,500; types must be known (built-in or this tenant's).",
    response_model=RetentionRead,
    responses=problem_responses(401, 403, 422),
)
async def put_retention(
    body: RetentionUpdate, session: Session, user: CurrentUser
) -> RetentionRead:
    policy = unwrap(
        await retention_service.set_policy(
            session,
            actor=user,
            feed_overrides=body.feed.overrides,
            feed_default_days=body.feed.default_days,
            event_days=body.events.keep_days,
            deleted_grace_days=body.events.deleted_grace_days,
            archive_events_after_days=body.events.archive_after_days,
        ),
        location="body",
    )
    return await _read(session, user.tenant_id, policy)


@router.get(
    "/stats/",
    summary="Growth figures (admin)",
    description="This tenant's feed items, unread items, events, streams, subscriptions "
    "and fan-out backlog (from counters, no rows counted), its ten largest feeds, one "
    "user's feed stats with `user_id` (seed 002's get_user_feed_stats); for the `operator` "
    "role also every table and partition of the database with rows and bytes.",
    response_model=StatsRead,
    responses=problem_responses(401, 403, 422),
)
async def stats(
    session: Session,
    user: CurrentUser,
    user_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
) -> StatsRead:
    found = unwrap(await stats_service.stats(session, actor=user, user_id=user_id))
    return StatsRead.model_validate(
        {
            "tenant": found.tenant,
            "top_users": found.top_users,
            "user": found.user,
            "tables": found.tables,
            "generated_at": found.generated_at,
        }
    )
