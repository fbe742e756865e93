from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.enums import StreamType
from app.schemas.common import InputSchema, Schema, Text

ObjectType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"),
]
ObjectId = Annotated[Text, StringConstraints(min_length=1, max_length=255)]
Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9-]*$")
]


class StreamChange(InputSchema):
    """An administrator's edit of a stream: what it is called and whether it takes events."""

    name: Annotated[Text, StringConstraints(min_length=1, max_length=300)] | None = None
    description: Annotated[Text, StringConstraints(max_length=10_000)] | None = None
    is_active: bool | None = None


class StreamCreate(InputSchema):
    name: Annotated[Text, StringConstraints(min_length=1, max_length=300)]
    description: Annotated[Text, StringConstraints(max_length=10_000)] = ""
    stream_type: StreamType = StreamType.general
    object_type: ObjectType | None = Field(
        default=None, description="Host object type, e.g. `project` or `crm.lead`."
    )
    object_id: ObjectId | None = Field(default=None, description="Host object id.")
    slug: Slug | None = Field(
        default=None, description="Optional; generated from the name when absent."
    )
    is_active: bool = True

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Project Alpha Stream",
                    "stream_type": "project",
                    "object_type": "project",
                    "object_id": "42",
                }
            ]
        }
    )

    @model_validator(mode="after")
    def _object_is_a_pair(self) -> StreamCreate:
        if (self.object_type is None) != (self.object_id is None):
            raise ValueError("object_type and object_id go together")
        return self


class StreamRead(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01a2024e-a77a-7001-8000-0c5a9f3e2b11",
                    "slug": "project-alpha-stream",
                    "name": "Project Alpha Stream",
                    "description": "",
                    "stream_type": "project",
                    "object_type": "project",
                    "object_id": "42",
                    "is_active": True,
                    "event_count": 128,
                    "subscriber_count": 6,
                    "last_event_at": "2026-03-01T09:15:00Z",
                    "created_by": "user-uuid",
                    "created_at": "2026-01-10T08:00:00Z",
                    "updated_at": "2026-01-10T08:00:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    slug: str
    name: str
    description: str
    stream_type: str
    object_type: str | None
    object_id: str | None
    is_active: bool
    event_count: int
    subscriber_count: int
    last_event_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
