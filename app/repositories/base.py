"""The small shared piece of every repository: a session and keyset paging."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Table, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.pagination import Cursor

Column = ColumnElement[Any] | InstrumentedAttribute[Any]
AnySelect = TypeVar("AnySelect", bound=Select[*tuple[Any, ...]])


def cast_table(model: type[Any]) -> Table:
    """A mapped class's Core table (for statements the ORM must not reinterpret)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


def before_cursor(time_col: Column, id_col: Column, cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly after `cursor` in (time desc, id desc) order.

    Spelled as an OR rather than a row comparison so the planner can use the leading
    time column as an index bound.
    """
    return or_(time_col < cursor.at, and_(time_col == cursor.at, id_col < cursor.id))


def newest_first(
    stmt: AnySelect,
    time_col: Column,
    id_col: Column,
    *,
    cursor: Cursor | None,
    limit: int,
    offset: int = 0,
) -> AnySelect:
    """Keyset (or, for numbered pages, offset) paging; fetches one extra row to know
    whether another page follows."""
    if cursor is not None:
        stmt = stmt.where(before_cursor(time_col, id_col, cursor))
    stmt = stmt.order_by(time_col.desc(), id_col.desc()).limit(limit + 1)
    return stmt.offset(offset) if offset else stmt
