"""WebSocket frames a client may send (docs/websocket.md): one JSON object with a
`type`, validated as a discriminated union; unknown fields are an error."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter, model_validator

from app.schemas.common import InputSchema, Schema, Text
from app.schemas.feeds import MAX_MARK_IDS


class PingFrame(InputSchema):
    type: Literal["ping"]
    ts: float | str | None = Field(default=None, description="Echoed in the pong.")


class PongFrame(InputSchema):
    type: Literal["pong"]
    ts: float | str | None = None


class TypingFrame(InputSchema):
    type: Literal["typing"]
    is_typing: bool = True


class CommentFrame(InputSchema):
    type: Literal["comment"]
    content: Annotated[Text, Field(min_length=1, max_length=10_000)]
    parent_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class PresenceFrame(InputSchema):
    type: Literal["presence"]
    current_page: Annotated[str, Field(max_length=500)]


class ActivityFrame(InputSchema):
    type: Literal["activity"]


class MarkReadFrame(InputSchema):
    type: Literal["mark_read"]
    ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_MARK_IDS)
    all: bool = False

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _one_way(self) -> MarkReadFrame:
        if self.all == (self.ids is not None):
            raise ValueError("send either ids or all: true")
        return self


ClientFrame = Annotated[
    PingFrame
    | PongFrame
    | TypingFrame
    | CommentFrame
    | PresenceFrame
    | ActivityFrame
    | MarkReadFrame,
    Field(discriminator="type"),
]
client_frame: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class PresenceUser(Schema):
    id: str
    name: str | None = None
    email: str | None = None


class PresenceEntry(Schema):
    """Seed 003's UserPresence: who, where, since when, last seen, active in 5 minutes."""

    user: PresenceUser
    current_page: str | None
    session_start: datetime | None
    last_seen: datetime | None
    is_active: bool
    connections: int = Field(default=1, description="Open sockets of this user here.")


class PresenceObject(Schema):
    type: str | None
    id: str | None
    stream: str
    stream_id: uuid.UUID


class PresenceList(Schema):
    object: PresenceObject
    present_count: int
    results: list[PresenceEntry] = Field(description="Up to 100 users, by arrival.")
