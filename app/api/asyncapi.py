"""`GET /asyncapi.json`: the WebSocket protocol (docs/websocket.md) as AsyncAPI 3.0,
generated from the frame models the server and the tests use, so it cannot drift."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.schemas import live

router = APIRouter(tags=["live"])

_SERVER_FRAMES: dict[str, type[BaseModel]] = {
    "connection_established": live.ConnectionEstablishedFrame,
    "event": live.EventFrame,
    "user_joined": live.UserJoinedFrame,
    "user_left": live.UserLeftFrame,
    "presence_updated": live.PresenceUpdatedFrame,
    "user_typing": live.UserTypingFrame,
    "new_notification": live.NewNotificationFrame,
    "unread_count": live.UnreadCountFrame,
    "notification_read": live.NotificationReadFrame,
    "server_ping": live.ServerPingFrame,
    "server_pong": live.ServerPongFrame,
    "error": live.ErrorFrame,
    "resync_required": live.ResyncRequiredFrame,
}
_CLIENT_FRAMES: dict[str, type[BaseModel]] = {
    "ping": live.PingFrame,
    "pong": live.PongFrame,
    "typing": live.TypingFrame,
    "comment": live.CommentFrame,
    "presence": live.PresenceFrame,
    "activity": live.ActivityFrame,
    "mark_read": live.MarkReadFrame,
}
_OBJECT_SENDS = [
    "connection_established",
    "event",
    "user_joined",
    "user_left",
    "presence_updated",
    "server_ping",
    "server_pong",
    "error",
    "resync_required",
]
_CHANNELS: dict[str, dict[str, Any]] = {
    "projects": {
        "address": "/ws/projects/{project_id}/",
        "parameters": {"project_id": {"description": "The host application's project id."}},
        "sends": _OBJECT_SENDS,
        "receives": ["ping", "pong", "presence", "activity"],
    },
    "tasks": {
        "address": "/ws/tasks/{task_id}/",
        "parameters": {"task_id": {"description": "The host application's task id."}},
        "sends": [*_OBJECT_SENDS, "user_typing"],
        "receives": ["ping", "pong", "typing", "comment", "presence", "activity"],
    },
    "streams": {
        "address": "/ws/streams/{slug}/",
        "parameters": {"slug": {"description": "A stream's slug."}},
        "sends": [*_OBJECT_SENDS, "user_typing"],
        "receives": ["ping", "pong", "typing", "comment", "presence", "activity"],
    },
    "notifications": {
        "address": "/ws/notifications/",
        "sends": [
            "connection_established",
            "new_notification",
            "unread_count",
            "notification_read",
            "server_ping",
            "server_pong",
            "error",
            "resync_required",
        ],
        "receives": ["ping", "pong", "mark_read"],
    },
}


@functools.cache
def asyncapi_document(version: str) -> dict[str, Any]:
    models = [*_SERVER_FRAMES.values(), *_CLIENT_FRAMES.values()]
    _, top = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    messages = {
        name: {
            "name": name,
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "summary": (model.__doc__ or "").strip().split("\n")[0] or name,
        }
        for name, model in {**_SERVER_FRAMES, **_CLIENT_FRAMES}.items()
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for key, spec in _CHANNELS.items():
        channel: dict[str, Any] = {
            "address": spec["address"],
            "messages": {
                name: {"$ref": f"#/components/messages/{name}"}
                for name in [*spec["sends"], *spec["receives"]]
            },
        }
        if "parameters" in spec:
            channel["parameters"] = spec["parameters"]
        channels[key] = channel
        for action, names in (("send", spec["sends"]), ("receive", spec["receives"])):
            operations[f"{key}_{action}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [{"$ref": f"#/channels/{key}/messages/{n}"} for n in names],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tidings live layer",
            "version": version,
            "description": "WebSocket routes, frames and close codes: docs/websocket.md. "
            "Authenticate with `?token=` or the subprotocols `tidings.v1` and "
            "`bearer.<token>`. Close codes: 4401 bad token, 4404 unknown object, 4408 "
            "heartbeat missed, 1009 frame too large, 1013 reading too slowly.",
        },
        "servers": {
            "tidings": {"host": "localhost:8000", "protocol": "ws", "pathname": "/"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": top.get("$defs", {})},
    }


@router.get("/asyncapi.json", summary="The WebSocket protocol (AsyncAPI 3.0)")
async def asyncapi(request: Request) -> dict[str, Any]:
    return asyncapi_document(request.app.version)
