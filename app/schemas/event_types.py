from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from app.schemas.common import InputSchema, JsonObject, Schema, Text
from app.schemas.events import EventTypeKey, ImportanceName


class EventTypeCreate(InputSchema):
    key: EventTypeKey
    label: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[Text, StringConstraints(max_length=2000)] = ""
    icon: Annotated[Text, StringConstraints(max_length=64)] = ""
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "custom"
    summary_template: Annotated[Text, StringConstraints(max_length=500)] = Field(
        default="", description="`{field}` placeholders are filled from the event's data."
    )
    default_importance: ImportanceName = "normal"
    data_schema: JsonObject = Field(
        default_factory=lambda: {"type": "object"},
        description="A JSON Schema (draft 2020-12) every event's data must satisfy.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "quote_sent",
                    "label": "Quote sent",
                    "icon": "💬",
                    "summary_template": "Quote {number} sent for {amount}",
                    "data_schema": {
                        "type": "object",
                        "required": ["number", "amount"],
                        "properties": {
                            "number": {"type": "string"},
                            "amount": {"type": "number", "minimum": 0},
                        },
                    },
                }
            ]
        }
    )


class EventTypeRead(Schema):
    key: str
    label: str
    description: str
    icon: str
    category: str
    summary_template: str
    default_importance: str
    builtin: bool
    data_schema: dict[str, Any]


class EventTypeList(Schema):
    count: int
    results: list[EventTypeRead]
