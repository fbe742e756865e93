"""DRF-shaped list responses with keyset `next_cursor` and page links."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.pagination import Page, PageRequest


def list_body(
    request: Request, page: Page[Any], paging: PageRequest, results: list[Any]
) -> dict[str, Any]:
    url = request.url
    next_url = previous_url = None
    next_cursor = page.next_cursor.encode() if page.next_cursor else None
    numbered = paging.page is not None or next_cursor is None
    if page.has_more:
        if numbered:
            next_url = str(
                url.include_query_params(page=(paging.page or 1) + 1).remove_query_params("cursor")
            )
        else:
            next_url = str(url.include_query_params(cursor=next_cursor).remove_query_params("page"))
    if paging.page is not None and paging.page > 1:
        previous_url = str(url.include_query_params(page=paging.page - 1))
    return {
        "count": page.total,
        "next": next_url,
        "previous": previous_url,
        "next_cursor": next_cursor,
        "results": results,
    }
