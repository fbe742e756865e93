"""Seed 002's activity feed and seed 000's subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from app.schemas.common import InputSchema, JsonObject, Schema, Text
from app.schemas.events import (
    EventRead,
    EventTypeKey,
    IdempotencyKeyStr,
    ImportanceName,
    UserRef,
)

MAX_MARK_IDS = 1000


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


SubscriptionType = Annotated[Literal["follow", "watch", "mute"], BeforeValidator(_lower)]


class SubscribeBody(InputSchema):
    subscription_type: SubscriptionType = Field(
        default="follow", description="follow or watch to receive events; mute to pause."
    )
    notify_email: bool = False
    notify_push: bool = False
    min_importance: ImportanceName = Field(
        default="low", description="Only events at or above this importance reach the feed."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subscription_type": "FOLLOW",
                    "notify_email": True,
                    "notify_push": False,
                    "min_importance": "NORMAL",
                }
            ]
        }
    )


class SubscriptionRead(Schema):
    id: uuid.UUID
    stream: str = Field(description="The stream's slug.")
    stream_id: uuid.UUID
    stream_name: str
    subscription_type: str
    notify_email: bool
    notify_push: bool
    min_importance: str
    last_read_at: datetime | None
    unread_count: int
    created_at: datetime


class SubscriptionList(Schema):
    count: int
    results: list[SubscriptionRead]


class UnreadCountsRead(Schema):
    total_unread: int
    by_type: dict[str, int]
    subscriptions: list[dict[str, Any]] = Field(
        description="Per subscription: `id`, `stream`, `unread_count`."
    )


class DashboardRead(Schema):
    subscription_count: int
    total_unread: int
    recent_events: list[EventRead]
    assigned_milestones: list[dict[str, Any]] = Field(
        description="Milestones assigned to you (filled once milestones exist)."
    )
    subscriptions: list[SubscriptionRead]


class FeedItemRead(Schema):
    """One item of seed 002's feed."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0d7f1b8a-2f7e-4a8f-9c39-6e0b1b1c9a11",
                    "activity_type": "fast_join",
                    "activity_type_display": "Joined Fast",
                    "title": "You joined the Great Lent Fast",
                    "description": "You joined the Great Lent Fast",
                    "is_read": False,
                    "read_at": None,
                    "created_at": "2024-01-15T10:30:00Z",
                    "age_display": "2h ago",
                    "data": {"fast_id": 123, "fast_name": "Great Lent Fast"},
                    "target_type": "hub.fast",
                    "target_id": "123",
                    "event_id": "01a2024e-a77d-779f-98f7-693916412419",
                    "stream_id": "01a2024e-a77a-7001-8000-0c5a9f3e2b11",
                }
            ]
        },
    )

    id: uuid.UUID
    activity_type: str
    activity_type_display: str
    title: str
    description: str
    is_read: bool
    read_at: datetime | None
    created_at: datetime
    age_display: str
    data: dict[str, Any]
    target_type: str | None
    target_id: str | None
    event_id: uuid.UUID
    stream_id: uuid.UUID


class FeedList(Schema):
    count: int
    next: str | None
    previous: str | None
    next_cursor: str | None
    results: list[FeedItemRead]


class FeedSummaryRead(Schema):
    total_items: int
    unread_count: int
    read_count: int
    activity_types: dict[str, int]
    recent_activity: list[FeedItemRead]


class MarkReadBody(InputSchema):
    """Send `activity_ids` (up to 1000) or `mark_all: true`."""

    activity_ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_MARK_IDS)
    mark_all: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> MarkReadBody:
        if self.mark_all == (self.activity_ids is not None):
            raise ValueError("send either activity_ids or mark_all: true")
        return self

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"activity_ids": []}, {"mark_all": True}]}
    )


class UnreadCountRead(Schema):
    """The badge: how many of your feed items are unread, in all and per activity type."""

    unread_count: int
    by_type: dict[str, int] = Field(description="Only types with unread items.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"unread_count": 3, "by_type": {"note": 2, "call": 1}}]}
    )


class MarkReadResult(Schema):
    message: str
    updated_count: int


class GenerateBody(InputSchema):
    user_id: Annotated[str, Field(min_length=1, max_length=255)]
    days_back: int = Field(default=30, ge=1, le=3650)

    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "123", "days_back": 30}]})


class GenerateResult(Schema):
    message: str
    created_count: int
    date_range: dict[str, datetime]


class NotifyBody(InputSchema):
    """A direct notification: to `user_ids`, to every subscriber of `stream`, or both."""

    user_ids: list[UserRef] | None = Field(default=None, min_length=1, max_length=1000)
    stream: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="A stream's slug: its subscribers are notified too."
    )
    activity_type: EventTypeKey = Field(
        description="An event type, e.g. fast_reminder or devotional_available."
    )
    title: Annotated[Text, Field(min_length=1, max_length=500)]
    description: Annotated[Text, Field(max_length=20_000)] = ""
    data: JsonObject | None = None
    importance: ImportanceName | None = None
    idempotency_key: IdempotencyKeyStr | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_ids": ["u1", "u2"],
                    "activity_type": "fast_reminder",
                    "title": "Great Lent starts tomorrow",
                    "data": {"fast_name": "Great Lent Fast"},
                }
            ]
        }
    )


class NotifyResult(Schema):
    message: str
    event_id: uuid.UUID
    stream: str
