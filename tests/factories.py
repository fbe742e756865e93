"""Explicit factories: each makes one thing through the API or the service layer."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient


async def create_stream(
    client: AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"name": "Project Alpha", "stream_type": "project", **fields}
    response = await client.post("/api/streams/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def add_event(
    client: AsyncClient, headers: dict[str, str], slug: str, **fields: Any
) -> dict[str, Any]:
    body = {"event_type": "project_updated", "description": "Scope updated", **fields}
    response = await client.post(f"/api/streams/{slug}/add_event/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def record_event(
    client: AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {
        "object_type": "crm.lead",
        "object_id": "lead-1",
        "event_type": "note",
        "data": {"text": "Called the customer"},
        **fields,
    }
    response = await client.post("/api/events/", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]
