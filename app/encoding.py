"""JSON for the wire, written by orjson: the hot responses and the WebSocket frames."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

# Pydantic writes UTC instants as ...Z; so does this.
_OPTIONS = orjson.OPT_UTC_Z


def _default(value: Any) -> Any:
    # asyncpg's UUIDs subclass uuid.UUID, which orjson only writes when exact.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=_OPTIONS)
