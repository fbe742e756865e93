from __future__ import annotations

from typing import Any

from httpx import AsyncClient

QUOTE_TYPE: dict[str, Any] = {
    "key": "quote_sent",
    "label": "Quote sent",
    "icon": "💬",
    "summary_template": "Quote {number} sent for {amount}",
    "data_schema": {
        "type": "object",
        "required": ["number", "amount"],
        "properties": {"number": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
    },
}


async def test_catalogue_lists_builtins_with_schemas(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.get("/api/event-types/", headers=auth)
    assert response.status_code == 200
    types = {t["key"]: t for t in response.json()["results"]}
    assert types["note"]["builtin"] is True
    assert "text" in types["note"]["data_schema"]["required"]
    assert types["deal_won"]["default_importance"] == "high"


async def test_admin_registers_a_type_whose_schema_then_validates_events(
    client: AsyncClient, admin: dict[str, str], auth: dict[str, str], outsider: dict[str, str]
) -> None:
    created = await client.post("/api/event-types/", json=QUOTE_TYPE, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["builtin"] is False

    base = {"object_type": "crm.deal", "object_id": "d1", "event_type": "quote_sent"}
    ok = await client.post(
        "/api/events/", json={**base, "data": {"number": "Q-1", "amount": 99}}, headers=auth
    )
    assert ok.status_code == 201
    assert ok.json()["summary"] == "Quote Q-1 sent for 99"
    assert ok.json()["event_type_display"] == "Quote sent"

    missing = await client.post("/api/events/", json={**base, "data": {"amount": -1}}, headers=auth)
    assert missing.status_code == 422
    locs = {tuple(e["loc"]) for e in missing.json()["errors"]}
    assert locs == {("body", "data", "number"), ("body", "data", "amount")}

    foreign = await client.post(
        "/api/events/", json={**base, "data": {"number": "Q", "amount": 1}}, headers=outsider
    )
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["loc"] == ["body", "event_type"]


async def test_only_admins_register_types(client: AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post("/api/event-types/", json=QUOTE_TYPE, headers=auth)
    assert response.status_code == 403


async def test_duplicate_and_builtin_keys_conflict(
    client: AsyncClient, admin: dict[str, str]
) -> None:
    assert (
        await client.post("/api/event-types/", json=QUOTE_TYPE, headers=admin)
    ).status_code == 201
    again = await client.post("/api/event-types/", json=QUOTE_TYPE, headers=admin)
    assert again.status_code == 409
    builtin = await client.post(
        "/api/event-types/", json={**QUOTE_TYPE, "key": "note"}, headers=admin
    )
    assert builtin.status_code == 409


async def test_invalid_json_schema_is_a_422(client: AsyncClient, admin: dict[str, str]) -> None:
    body = {**QUOTE_TYPE, "data_schema": {"type": "object", "properties": {"n": {"type": "nope"}}}}
    response = await client.post("/api/event-types/", json=body, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", "data_schema"]
    not_object = await client.post(
        "/api/event-types/", json={**QUOTE_TYPE, "data_schema": {"type": "array"}}, headers=admin
    )
    assert not_object.status_code == 422
