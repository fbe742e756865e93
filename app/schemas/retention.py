"""Retention policy and growth figures (`/api/admin/...`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from app.schemas.common import InputSchema, Schema

Days = Annotated[int, Field(ge=1, le=36_500, description="Days (1 to 36,500).")]


class FeedPolicyRead(Schema):
    default_days: int = Field(description="For types nothing else names.")
    defaults: dict[str, int] = Field(description="Seed 002's retention per type.")
    overrides: dict[str, int] = Field(description="This tenant's, per type.")
    effective: dict[str, int] = Field(description="Every known type's retention, in days.")


class EventPolicyRead(Schema):
    keep_days: dict[str, int] = Field(
        description="Per event type: events older than this are removed (others: forever)."
    )
    deleted_grace_days: int = Field(description="Soft-deleted events are removed after this.")
    archive_after_days: int = Field(description="Events older than this move to the archive.")


class RetentionRead(Schema):
    feed: FeedPolicyRead
    events: EventPolicyRead
    updated_at: datetime | None


class FeedPolicyUpdate(InputSchema):
    overrides: dict[Annotated[str, Field(min_length=1, max_length=100)], Days] = Field(
        default_factory=dict, max_length=500
    )
    default_days: Days | None = None


class EventPolicyUpdate(InputSchema):
    keep_days: dict[Annotated[str, Field(min_length=1, max_length=100)], Days] = Field(
        default_factory=dict, max_length=500
    )
    deleted_grace_days: Days | None = None
    archive_after_days: Days | None = None


class RetentionUpdate(InputSchema):
    """The tenant's whole policy (PUT): what is left out is the default again."""

    feed: FeedPolicyUpdate = Field(default_factory=FeedPolicyUpdate)
    events: EventPolicyUpdate = Field(default_factory=EventPolicyUpdate)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "feed": {"overrides": {"fast_reminder": 14, "note": 90}, "default_days": 120},
                    "events": {"keep_days": {"call": 365}, "deleted_grace_days": 7},
                }
            ]
        }
    )


class PartitionStats(Schema):
    name: str
    range: str | None
    rows: int = Field(description="PostgreSQL's estimate (exact after ANALYZE).")
    bytes: int


class TableStats(Schema):
    name: str
    rows: int
    bytes: int
    partitions: list[PartitionStats]


class UserFeedStats(Schema):
    """Seed 002's get_user_feed_stats."""

    user_id: str
    total_items: int
    unread_count: int
    read_count: int
    activity_types: dict[str, int]


class TenantStats(Schema):
    feed_items: int
    unread: int
    users_with_feeds: int
    events: int
    streams: int
    subscriptions: int
    outbox_pending: int = Field(description="Events whose fan-out has not finished.")


class StatsRead(Schema):
    tenant: TenantStats
    top_users: list[UserFeedStats] = Field(description="The 10 largest feeds.")
    user: UserFeedStats | None = Field(description="The one asked for with `user_id`.")
    tables: list[TableStats] | None = Field(
        description="Tables and partitions of the whole database (operator role only)."
    )
    generated_at: datetime
