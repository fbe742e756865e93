"""DRF-shaped list responses with keyset `next_cursor` and page links."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request

from app.pagination import Page, PageRequest


def _link(request: Request, query: list[tuple[str, str]], **changes: str | int) -> str:
    """This request's URL with `changes` in its query (the page links of a list)."""
    kept = [(k, v) for k, v in query if k not in changes]
    kept.extend((k, str(v)) for k, v in changes.items())
    return str(request.url.replace(query=urlencode(kept)))


def list_body(
    request: Request, page: Page[Any], paging: PageRequest, results: list[Any]
) -> dict[str, Any]:
    next_url = previous_url = None
    next_cursor = page.next_cursor.encode() if page.next_cursor else None
    numbered = paging.page is not None or next_cursor is None
    if page.has_more or (paging.page is not None and paging.page > 1):
        query = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if page.has_more:
            if numbered:
                query_no_cursor = [(k, v) for k, v in query if k != "cursor"]
                next_url = _link(request, query_no_cursor, page=(paging.page or 1) + 1)
            else:
                query_no_page = [(k, v) for k, v in query if k != "page"]
                next_url = _link(request, query_no_page, cursor=next_cursor or "")
        if paging.page is not None and paging.page > 1:
            previous_url = _link(request, query, page=paging.page - 1)
    return {
        "count": page.total,
        "next": next_url,
        "previous": previous_url,
        "next_cursor": next_cursor,
        "results": results,
    }
