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


# --- what the server sends (documentation and tests: the hub writes these shapes) -----


class ServerFrame(Schema):
    model_config = ConfigDict(extra="forbid")


class StreamObject(Schema):
    type: str | None
    id: str | None
    stream: str
    stream_id: uuid.UUID


class ConnectionEstablishedFrame(ServerFrame):
    type: Literal["connection_established"]
    connection_id: str
    user: PresenceUser
    object: StreamObject | None = Field(description="Null on the notifications socket.")
    heartbeat_seconds: float
    server_time: datetime
    presence: list[PresenceEntry] | None = Field(default=None, description="Up to 100.")
    present_count: int | None = None


class EventFrame(ServerFrame):
    """An event recorded on the watched stream; `type` follows seed 003 where it can."""

    type: Literal[
        "project_updated",
        "task_created",
        "task_updated",
        "task_assigned",
        "comment_added",
        "event",
    ]
    id: uuid.UUID = Field(description="The event's id: what `last_event_id` takes.")
    stream: str
    event: dict[str, object] = Field(description="The REST API's EventRead.")


class UserJoinedFrame(ServerFrame):
    type: Literal["user_joined"]
    user: PresenceUser
    presence: PresenceEntry


class UserLeftFrame(ServerFrame):
    type: Literal["user_left"]
    user: PresenceUser


class PresenceUpdatedFrame(ServerFrame):
    type: Literal["presence_updated"]
    user: PresenceUser
    presence: PresenceEntry


class UserTypingFrame(ServerFrame):
    type: Literal["user_typing"]
    user: PresenceUser
    is_typing: bool


class NewNotificationFrame(ServerFrame):
    type: Literal["new_notification"]
    notification: dict[str, object] = Field(description="The REST feed's FeedItemRead.")


class UnreadCountFrame(ServerFrame):
    type: Literal["unread_count"]
    count: int
    by_type: dict[str, int]


class NotificationReadFrame(ServerFrame):
    type: Literal["notification_read"]
    updated_count: int
    ids: list[uuid.UUID] | None = None
    stream_id: uuid.UUID | None = None
    all: bool | None = None


class ServerPingFrame(ServerFrame):
    type: Literal["ping"]


class ServerPongFrame(ServerFrame):
    type: Literal["pong"]
    ts: float | str | None = None


class ErrorFrame(ServerFrame):
    type: Literal["error"]
    code: str
    detail: str


class ResyncRequiredFrame(ServerFrame):
    type: Literal["resync_required"]
    reason: Literal["unknown_event", "too_many_missed"]


AnyServerFrame = Annotated[
    ConnectionEstablishedFrame
    | EventFrame
    | UserJoinedFrame
    | UserLeftFrame
    | PresenceUpdatedFrame
    | UserTypingFrame
    | NewNotificationFrame
    | UnreadCountFrame
    | NotificationReadFrame
    | ServerPingFrame
    | ServerPongFrame
    | ErrorFrame
    | ResyncRequiredFrame,
    Field(discriminator="type"),
]
server_frame: TypeAdapter[AnyServerFrame] = TypeAdapter(AnyServerFrame)
