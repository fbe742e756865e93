from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    model_validator,
)

from app.enums import Importance, StreamType
from app.schemas.common import ActorRead, InputSchema, JsonObject, Schema, Text
from app.schemas.streams import ObjectId, ObjectType

MAX_BATCH = 1000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _aware_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive times are UTC, as in seed 002's filters
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970-01-01 and 2100-01-01")
    return value


EventTypeKey = Annotated[
    str,
    BeforeValidator(_lower),
    StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.:-]*$"),
]
ImportanceName = Annotated[Literal["low", "normal", "high", "critical"], BeforeValidator(_lower)]
EventTime = Annotated[datetime, AfterValidator(_aware_in_range)]
UserRef = Annotated[Text, StringConstraints(min_length=1, max_length=255)]
ActivityStatus = Annotated[
    Literal["planned", "in_progress", "completed", "cancelled"], BeforeValidator(_lower)
]
ActivityPriority = Annotated[Literal["low", "medium", "high", "urgent"], BeforeValidator(_lower)]
IdempotencyKeyStr = Annotated[Text, StringConstraints(min_length=1, max_length=255)]


class EventFields(InputSchema):
    """What any event post may carry (seed 000's add_event fields, seed 001's record())."""

    event_type: EventTypeKey = Field(
        description="A built-in type (`note`, `PROJECT_UPDATED`, ...) or a tenant type."
    )
    importance: ImportanceName | None = Field(
        default=None, description="Defaults to the event type's importance."
    )
    summary: Annotated[Text, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Rendered from the event type's template when absent."
    )
    description: Annotated[Text, StringConstraints(max_length=20_000)] = ""
    data: JsonObject | None = Field(
        default=None, description="Validated against the event type's data schema."
    )
    metadata: JsonObject | None = Field(
        default=None, description="Seed 000's name for `data`; send one or the other."
    )
    occurred_at: EventTime | None = Field(default=None, description="Defaults to now.")
    actor_id: UserRef | None = Field(
        default=None,
        description="Record on behalf of this user (service or admin tokens only); "
        "defaults to the caller.",
    )
    is_system_generated: bool = Field(
        default=False, description="A system event has no actor (seed 001)."
    )
    idempotency_key: IdempotencyKeyStr | None = Field(
        default=None, description="A retried post with the same key returns the original event."
    )
    assigned_to: UserRef | None = None
    status: ActivityStatus | None = None
    priority: ActivityPriority | None = None
    recipients: list[UserRef] | None = Field(
        default=None,
        max_length=1000,
        description="Users whose feed gets this event besides the stream's subscribers.",
    )

    @model_validator(mode="after")
    def _one_payload(self) -> EventFields:
        if self.data is not None and self.metadata is not None:
            raise ValueError("send `data` or `metadata`, not both")
        return self

    @property
    def payload(self) -> dict[str, Any]:
        return self.data if self.data is not None else (self.metadata or {})


class StreamEventCreate(EventFields):
    """`POST /api/streams/{slug}/add_event/`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_type": "PROJECT_UPDATED",
                    "description": "Project scope was updated",
                    "importance": "high",
                    "metadata": {"changed_fields": ["scope", "budget"]},
                }
            ]
        }
    )


class EventCreate(EventFields):
    """`POST /api/events/`: an event about a host object; its stream is created on first use."""

    object_type: ObjectType
    object_id: ObjectId
    stream_type: StreamType | None = Field(
        default=None, description="For a new stream; guessed from object_type when absent."
    )
    stream_name: Annotated[Text, StringConstraints(min_length=1, max_length=300)] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object_type": "crm.lead",
                    "object_id": "123e4567-e89b-12d3-a456-426614174000",
                    "event_type": "note",
                    "data": {"text": "Follow up call scheduled", "mentions": ["@jane"]},
                    "idempotency_key": "crm-note-8812",
                }
            ]
        }
    )


class EventBatchCreate(InputSchema):
    events: list[EventCreate] = Field(min_length=1, max_length=MAX_BATCH)


class EventRead(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01a2024e-a77d-779f-98f7-693916412419",
                    "stream_id": "01a2024e-a77a-7001-8000-0c5a9f3e2b11",
                    "stream": "crm-lead-123e4567",
                    "object_type": "crm.lead",
                    "object_id": "123e4567-e89b-12d3-a456-426614174000",
                    "event_type": "note",
                    "event_type_display": "Note",
                    "icon": "📝",
                    "importance": "normal",
                    "actor": {
                        "id": "user-uuid",
                        "email": "user@example.com",
                        "first_name": "John",
                        "last_name": "Doe",
                    },
                    "summary": "Added note: Follow up call scheduled",
                    "description": "",
                    "data": {"text": "Follow up call scheduled", "mentions": ["@jane"]},
                    "metadata": {"text": "Follow up call scheduled", "mentions": ["@jane"]},
                    "is_system_generated": False,
                    "assigned_to": None,
                    "status": None,
                    "priority": None,
                    "occurred_at": "2024-01-15T10:30:00Z",
                    "created_at": "2024-01-15T10:30:00Z",
                    "updated_at": "2024-01-15T10:30:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    stream_id: uuid.UUID
    stream: str = Field(description="The stream's slug.")
    object_type: str | None
    object_id: str | None
    event_type: str
    event_type_display: str
    icon: str
    importance: str
    actor: ActorRead | None
    summary: str
    description: str
    data: dict[str, Any]
    is_system_generated: bool
    assigned_to: str | None
    status: str | None
    priority: str | None
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def metadata(self) -> dict[str, Any]:
        """Seed 000's name for `data`."""
        return self.data


class EventSearchHit(EventRead):
    rank: float
    headline: str = Field(description="Matching text with `<b>` around the matched words.")


class EventBatchRead(Schema):
    count: int
    created: int = Field(description="Events recorded by this request.")
    replayed: int = Field(description="Events returned from an earlier post (idempotency key).")
    results: list[EventRead]


def importance_name(value: int) -> str:
    return Importance(value).name
