"""Opaque keyset cursors: (time, id) of the last row of a page, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import orjson

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cursor:
    at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = orjson.dumps([self.at.isoformat(), str(self.id)])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Raises ValueError on anything that is not a cursor this service issued."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, id_ = orjson.loads(raw)
            parsed = datetime.fromisoformat(at)
            if parsed.tzinfo is None:
                raise ValueError("cursor time has no zone")
            return cls(at=parsed, id=uuid.UUID(id_))
        except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise ValueError("not a valid cursor") from exc


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Either keyset (`cursor`) or numbered (`page`, for DRF clients) paging."""

    page_size: int
    cursor: Cursor | None = None
    page: int | None = None

    @property
    def offset(self) -> int:
        return (
            0 if self.cursor is not None or self.page is None else (self.page - 1) * self.page_size
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows, the total (where counted) and the cursor of the next page."""

    items: list[T]
    total: int
    next_cursor: Cursor | None
    has_more: bool


def page_of(
    rows: list[T], total: int, size: int, key: Callable[[T], tuple[datetime, uuid.UUID]]
) -> Page[T]:
    """Trims the extra row a query fetched and derives the next page's cursor."""
    has_more = len(rows) > size
    items = rows[:size]
    cursor = Cursor(*key(items[-1])) if has_more and items else None
    return Page(items=items, total=total, next_cursor=cursor, has_more=has_more)
