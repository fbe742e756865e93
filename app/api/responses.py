"""JSON responses built with orjson straight from rows, for the hot read paths.

FastAPI validates and serializes a returned model again against `response_model`; the
feed page and the unread counts skip that (~60 µs an item) by returning a Response whose
body is already JSON. The routes still declare `response_model`, so OpenAPI documents
the same shape, and tests check the bodies against those models.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import Response

# Pydantic writes UTC instants as ...Z; so do these.
_OPTIONS = orjson.OPT_UTC_Z


def _default(value: Any) -> Any:
    # asyncpg's UUIDs subclass uuid.UUID, which orjson only writes when exact.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(
        orjson.dumps(content, default=_default, option=_OPTIONS),
        status_code=status_code,
        media_type="application/json",
    )


def raw_json(text: str) -> orjson.Fragment:
    """JSON text from the database, written into the response as it is."""
    return orjson.Fragment(text)
