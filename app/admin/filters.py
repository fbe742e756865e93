"""List filters that know tenants: a filter's choices come from the signed-in admin's
tenant only (sqladmin's own look-ups read the whole table, every tenant's values)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import InstrumentedAttribute
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app.admin.auth import current
from app.admin.formatters import OPEN_STATUSES
from app.enums import Importance
from app.models import ActivityRollup

LOOKUP_LIMIT = 200
RunQuery = Callable[[Select[Any]], Any]


class _Filter:
    has_operator = False
    template = "sqladmin/filters/lookup_filter.html"
    # sqladmin then calls get_filtered_query on every list, with None when unset
    default_value: Any = None

    def __init__(self, column: InstrumentedAttribute[Any], title: str, parameter: str) -> None:
        self.column = column
        self.title = title
        self.parameter_name = parameter


class TenantValues(_Filter):
    """The distinct values of a column in the admin's tenant (a short list: project ids,
    for instance); `source` reads them from a smaller table that has the same values."""

    def __init__(
        self,
        column: InstrumentedAttribute[Any],
        title: str,
        *,
        parameter: str | None = None,
        source: tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]] | None = None,
    ) -> None:
        super().__init__(column, title, parameter or column.key)
        # (value column, its tenant column) to read the choices from
        self.source = source or (column, column.class_.tenant_id)

    async def lookups(
        self, request: Request, model: Any, run_query: RunQuery
    ) -> list[tuple[str, str]]:
        value, tenant = self.source
        stmt = select(value).distinct().order_by(value).limit(LOOKUP_LIMIT)
        user = current(request)
        if not user.superuser:
            stmt = stmt.where(tenant == user.tenant_id)
        rows = await run_query(stmt)
        return [("__all", "All"), *((str(r[0]), str(r[0])) for r in rows)]

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if value in ("", "__all", None):
            return query
        return query.where(self.column == str(value))


def event_types(column: InstrumentedAttribute[Any], title: str = "Type") -> TenantValues:
    """Event (or activity) types, from the daily rollup: the types a tenant has recorded,
    without a scan of its events."""
    return TenantValues(
        column,
        title,
        source=(ActivityRollup.event_type, ActivityRollup.tenant_id),
    )


class Choices(_Filter):
    """A fixed set of values (statuses, priorities); a value outside it is a 400."""

    def __init__(
        self,
        column: InstrumentedAttribute[Any],
        title: str,
        values: Sequence[tuple[str, str]],
        *,
        convert: Callable[[str], Any] = str,
    ) -> None:
        super().__init__(column, title, column.key)
        self.values = list(values)
        self.convert = convert

    async def lookups(
        self, request: Request, model: Any, run_query: RunQuery
    ) -> list[tuple[str, str]]:
        return [("__all", "All"), *self.values]

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if value in ("", "__all", None):
            return query
        if value not in {v for v, _ in self.values}:
            allowed = ", ".join(v for v, _ in self.values)
            raise HTTPException(400, f"{self.parameter_name} must be one of {allowed}")
        return query.where(self.column == self.convert(value))


def importance(column: InstrumentedAttribute[Any], title: str = "Importance") -> Choices:
    return Choices(column, title, [(str(int(i)), i.name.title()) for i in Importance], convert=int)


def named(values: Sequence[str]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").title()) for v in values]


class YesNo(_Filter):
    """A boolean column, or (with `where`) any condition that is true or not."""

    def __init__(
        self,
        column: InstrumentedAttribute[Any],
        title: str,
        *,
        parameter: str | None = None,
        where: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(column, title, parameter or column.key)
        self.where = where or (lambda: self.column.is_(True))

    async def lookups(
        self, request: Request, model: Any, run_query: RunQuery
    ) -> list[tuple[str, str]]:
        return [("__all", "All"), ("true", "Yes"), ("false", "No")]

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if value == "true":
            return query.where(self.where())
        if value == "false":
            return query.where(~self.where())
        if value in ("", "__all", None):
            return query
        raise HTTPException(400, f"{self.parameter_name} must be true or false")


def overdue(end: InstrumentedAttribute[Any], status: InstrumentedAttribute[Any]) -> YesNo:
    """Seed 000's overdue: past the planned end and still open."""

    def condition() -> Any:
        today = datetime.now(UTC).date()
        return and_(end.is_not(None), end < today, status.in_(OPEN_STATUSES))

    return YesNo(end, "Overdue", parameter="overdue", where=condition)
