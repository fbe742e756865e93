"""Shared schema pieces: the base classes, safe text and JSON types, list envelopes."""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_DATA_BYTES = 256 * 1024
MAX_DATA_DEPTH = 32


class Schema(BaseModel):
    """Responses: read from ORM rows or SQL rows by attribute."""

    model_config = ConfigDict(from_attributes=True)


class InputSchema(BaseModel):
    """Requests: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_DATA_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_DATA_DEPTH} levels")
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must not contain NaN or Infinity")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    _check_json(value)
    if len(orjson.dumps(value)) > MAX_DATA_BYTES:
        raise ValueError(f"must be at most {MAX_DATA_BYTES // 1024} KiB as JSON")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]


class ActorRead(Schema):
    """A user as embedded in events (seed 001's `actor`)."""

    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class PaginatedList(Schema, Generic[T]):
    """DRF's list shape plus the keyset cursor of the next page."""

    count: int = Field(description="Total matching rows.")
    next: str | None = Field(description="URL of the next page, or null on the last page.")
    previous: str | None = Field(description="URL of the previous page (numbered paging only).")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page.")
    results: list[T]


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response is shaped."""

    type: str = Field(examples=["urn:tidings:problem:not_found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["stream 'alpha' not found"])
    code: str = Field(examples=["not_found"])
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For validation errors: `loc` (field path), `msg`, `type`."
    )
