"""Seed 001's timeline shapes and seed 004's activities list, summary and stats."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.schemas.common import ActorRead, InputSchema, JsonObject, Schema, Text
from app.schemas.events import ActivityPriority, ActivityStatus, UserRef


class TimelineEventRead(Schema):
    """One event as seed 001's timeline shows it. `created_at` is when the activity
    happened (the event's `occurred_at`); `recorded_at` is when Tidings stored it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01a2024e-a77d-779f-98f7-693916412419",
                    "event_type": "note",
                    "actor": {
                        "id": "user-uuid",
                        "email": "user@example.com",
                        "first_name": "John",
                        "last_name": "Doe",
                    },
                    "object_type": "lead",
                    "object_id": "123e4567-e89b-12d3-a456-426614174000",
                    "data": {"text": "Follow up call scheduled", "mentions": ["@jane"]},
                    "summary": "Added note: Follow up call scheduled",
                    "is_system_generated": False,
                    "created_at": "2024-01-15T10:30:00Z",
                    "updated_at": "2024-01-15T10:30:00Z",
                    "event_type_display": "Note",
                    "icon": "📝",
                    "importance": "normal",
                    "description": "",
                    "assigned_to": None,
                    "status": None,
                    "priority": None,
                    "recorded_at": "2024-01-15T10:30:00Z",
                    "headline": None,
                }
            ]
        },
    )

    id: uuid.UUID
    event_type: str
    actor: ActorRead | None
    object_type: str | None
    object_id: str | None
    data: dict[str, Any]
    summary: str
    is_system_generated: bool
    created_at: datetime
    updated_at: datetime
    event_type_display: str
    icon: str
    importance: str
    description: str
    assigned_to: str | None
    status: str | None
    priority: str | None
    recorded_at: datetime
    headline: str | None = Field(
        default=None, description="With `q`: the matching passage, matches in `<b>`."
    )


class TimelineObject(Schema):
    type: str
    id: str


class TimelinePagination(Schema):
    page: int
    page_size: int
    total: int = Field(description="Matching events (counted up to 10,000; more reads 10,001).")


class TimelineGroup(Schema):
    key: str = Field(description="today/yesterday/this_week/earlier, an event type, or a user.")
    label: str
    count: int
    events: list[TimelineEventRead]


class TimelineRead(Schema):
    object: TimelineObject
    events: list[TimelineEventRead]
    pagination: TimelinePagination
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    groups: list[TimelineGroup] | None = Field(
        default=None, description="With `group_by`: this page's events, grouped."
    )


class TimelineEventUpdate(InputSchema):
    """An edit of a manual event by its author (or an admin); omitted fields stay."""

    summary: Annotated[Text, StringConstraints(max_length=500)] | None = None
    description: Annotated[Text, StringConstraints(max_length=20_000)] | None = None
    data: JsonObject | None = Field(
        default=None, description="Replaces the data; validated against the event's type."
    )
    assigned_to: UserRef | None = None
    status: ActivityStatus | None = None
    priority: ActivityPriority | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> TimelineEventUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        return self

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": {"text": "Call moved to Friday"}}]}
    )


class RelatedTo(Schema):
    type: str | None
    id: str | None
    name: str


class AssigneeRead(Schema):
    id: str
    name: str


class ActivityRead(Schema):
    """One activity as seed 004's list shows it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01a2024e-a77d-779f-98f7-693916412419",
                    "activity_type": "call",
                    "activity_type_display": "Call",
                    "subject": "Follow-up call",
                    "description": "",
                    "summary": "Logged outbound call: successful",
                    "activity_date": "2024-01-15T10:30:00Z",
                    "related_to": {"type": "crm.lead", "id": "lead-uuid", "name": "Acme Corp"},
                    "assigned_to": {"id": "user-uuid", "name": "John Doe"},
                    "actor": None,
                    "status": "completed",
                    "priority": "high",
                    "data": {"direction": "outbound", "outcome": "successful"},
                    "headline": None,
                }
            ]
        },
    )

    id: uuid.UUID
    activity_type: str
    activity_type_display: str
    subject: str
    description: str
    summary: str
    activity_date: datetime
    related_to: RelatedTo
    assigned_to: AssigneeRead | None
    actor: ActorRead | None
    status: str | None
    priority: str | None
    data: dict[str, Any]
    headline: str | None = None


class ActivityList(Schema):
    count: int = Field(description="Matching activities (counted up to 10,000).")
    next: str | None
    previous: str | None
    next_cursor: str | None
    results: list[ActivityRead]


Period = Literal["today", "last_7_days", "last_30_days", "last_90_days", "all_time"]


class ActivitySummaryRead(Schema):
    """Seed 001's `activity_summary` event for one object."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": {"type": "lead", "id": "123e4567"},
                    "event_type": "activity_summary",
                    "data": {
                        "period": "last_7_days",
                        "call_count": 5,
                        "email_count": 12,
                        "meeting_count": 2,
                        "note_count": 8,
                        "total_count": 27,
                    },
                    "date_range": {"start": "2024-01-08T00:00:00Z", "end": "2024-01-15T10:30:00Z"},
                }
            ]
        }
    )

    object: TimelineObject
    event_type: Literal["activity_summary"] = "activity_summary"
    data: dict[str, Any]
    date_range: dict[str, datetime | None]


StatsDimension = Literal["day", "activity_type", "status"]


class ActivityStatsRow(Schema):
    day: date | None = None
    activity_type: str | None = None
    status: str | None = None
    count: int
    user_count: int = Field(description="Distinct users (the assignee, else the actor).")


class ActivityStatsRead(Schema):
    date_from: date
    date_to: date
    group: list[StatsDimension]
    results: list[ActivityStatsRow]
