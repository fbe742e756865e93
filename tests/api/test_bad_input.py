"""Every malformed request gets a 4xx problem+json naming what is wrong; never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient

from tests.factories import create_stream

GOOD = {"object_type": "crm.lead", "object_id": "1", "event_type": "note", "data": {"text": "x"}}


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (_with(event_type="nope"), ["body", "event_type"]),
        (_with(event_type="Bad Type!"), ["body", "event_type"]),
        (_with(data={"text": ""}), ["body", "data", "text"]),
        (_with(data={"text": 5}), ["body", "data", "text"]),
        (_with(data={"text": "a\u0000b"}), ["body", "data"]),
        (_with(data=[1, 2]), ["body", "data"]),
        (_with(summary="a\u0000"), ["body", "summary"]),
        (_with(importance="urgent"), ["body", "importance"]),
        (_with(occurred_at="yesterday"), ["body", "occurred_at"]),
        (_with(occurred_at="1900-01-01T00:00:00Z"), ["body", "occurred_at"]),
        (_with(object_id=""), ["body", "object_id"]),
        (_with(object_type="crm lead"), ["body", "object_type"]),
        (_with(unknown_field=1), ["body", "unknown_field"]),
        (_with(data={"text": "x"}, metadata={"text": "y"}), ["body"]),
        (_with(is_system_generated=True, actor_id="bob"), ["body", "actor_id"]),
        (_with(status="maybe"), ["body", "status"]),
        (_with(idempotency_key="k" * 256), ["body", "idempotency_key"]),
        (
            _with(
                data={
                    "text": "x",
                    "deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
                }
            ),
            ["body", "data"],
        ),
    ],
)
async def test_bad_event_is_a_422_naming_the_field(
    client: AsyncClient, auth: dict[str, str], body: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.post("/api/events/", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["code"] == "validation_failed"
    assert any(e["loc"][: len(loc)] == loc for e in problem["errors"]), problem["errors"]


async def test_non_finite_number_in_data_is_refused(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    raw = b'{"object_type":"o","object_id":"1","event_type":"custom","data":{"x":NaN}}'
    response = await client.post(
        "/api/events/", content=raw, headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", "data"]


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'"x"', b"\xff\xfe"])
async def test_malformed_json_is_a_422(
    client: AsyncClient, auth: dict[str, str], raw: bytes
) -> None:
    response = await client.post(
        "/api/events/", content=raw, headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_oversized_body_is_a_413(client: AsyncClient, auth: dict[str, str]) -> None:
    raw = (
        b'{"object_type":"o","object_id":"1","event_type":"custom","data":{"x":"'
        + b"a" * (11 * 1024 * 1024)
        + b'"}}'
    )
    response = await client.post(
        "/api/events/", content=raw, headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_oversized_body_without_length_is_a_413(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"object_type":"o","object_id":"1","event_type":"custom","data":{"x":"'
        for _ in range(12):
            yield b"a" * (1024 * 1024)
        yield b'"}}'

    response = await client.post(
        "/api/events/", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 0},
        {"page_size": 1000},
        {"page": 0},
        {"cursor": "garbage"},
        {"since": "not-a-date"},
        {"min_importance": "extreme"},
        {"page": 1, "cursor": "x"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, auth: dict[str, str], params: dict[str, Any]
) -> None:
    stream = await create_stream(client, auth)
    response = await client.get(
        f"/api/streams/{stream['slug']}/events/", params=params, headers=auth
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize("q", ["", "x" * 501])
async def test_search_query_is_bounded(client: AsyncClient, auth: dict[str, str], q: str) -> None:
    response = await client.get("/api/streams/search/", params={"q": q}, headers=auth)
    assert response.status_code == 422


@pytest.mark.parametrize("q", ["!", "&&&", "'", "a:*", "(((", "-", '"unclosed', "or or or", "ü∂ƒ"])
async def test_odd_search_syntax_never_fails(
    client: AsyncClient, auth: dict[str, str], q: str
) -> None:
    response = await client.get("/api/streams/search/", params={"q": q}, headers=auth)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x", "stream_type": "galaxy"},
        {"name": "x", "slug": "Not A Slug"},
        {"name": "x", "object_type": "project"},  # object_id missing
    ],
)
async def test_bad_stream_is_refused(
    client: AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post("/api/streams/", json=body, headers=auth)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_route_and_method_are_problems(
    client: AsyncClient, auth: dict[str, str]
) -> None:
    missing = await client.get("/api/nothing-here/", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = await client.delete("/api/streams/", headers=auth)
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
