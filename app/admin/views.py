"""The admin site's pages over seed 000's models. Lists and details read the tables
through sqladmin, narrowed to the signed-in admin's tenant; every change goes through
the services the API uses (soft delete for events, dependency checks for milestones,
subscriber counts for subscriptions), never a raw row update."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, cast

from pydantic import ValidationError
from sqladmin import ModelView
from sqladmin.formatters import BASE_FORMATTERS
from sqladmin.helpers import object_identifier_values
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer, selectinload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.validators import NumberRange

from app.admin import filters, formatters
from app.admin.auth import AdminUser, current
from app.db import transaction
from app.enums import Importance, StreamType
from app.errors import Error
from app.models import (
    Event,
    EventType,
    FeedItem,
    Milestone,
    MilestoneComment,
    Stream,
    Subscription,
)
from app.result import Err, Ok, Result
from app.schemas.milestones import MilestoneUpdate
from app.schemas.streams import StreamChange
from app.services.activities import activity_service
from app.services.feeds import subscription_service
from app.services.milestones import milestone_service
from app.services.streams import stream_service

COUNT_CAP = 10_000  # lists count exactly up to this many rows, like the API
MILESTONE_STATUSES = ("planned", "in_progress", "on_hold", "completed", "cancelled")
PRIORITIES = ("low", "medium", "high", "critical")
SUBSCRIPTION_TYPES = ("follow", "watch", "mute")
IMPORTANCE_CHOICES = [(int(i), i.name.title()) for i in Importance]


class Refused(Exception):
    """A service said no; sqladmin shows the message on the form or the list."""


@dataclass(frozen=True, slots=True)
class Wiring:
    """How views reach the app: its session factory and how its sessions deliver
    events and live messages (a change the admin makes reaches feeds and sockets)."""

    factory: async_sessionmaker[AsyncSession]
    prepare: Callable[[AsyncSession], None]


def unwrap(result: Result[Any, Error]) -> Any:
    match result:
        case Ok(data):
            return data
        case Err(error):
            raise Refused(error.message)
    raise AssertionError("unreachable")  # pragma: no cover


class TenantView(ModelView):
    """A model's pages, scoped to the signed-in admin's tenant: another tenant's rows are
    not listed, and their pages are 404 (a super-admin sees every tenant)."""

    wiring: ClassVar[Wiring]
    can_create = False
    can_export = False
    page_size = 25
    page_size_options = [25, 50, 100]
    category = "Activity"
    list_template = "tidings/list.html"
    details_template = "tidings/details.html"
    edit_template = "tidings/edit.html"
    column_type_formatters = {
        **BASE_FORMATTERS,
        datetime: formatters.moment,
        date: formatters.day,
    }

    def _scoped(self, stmt: Select[Any], request: Request) -> Select[Any]:
        user = current(request)
        if user.superuser:
            return stmt
        return stmt.where(cast(Any, self.model).tenant_id == user.tenant_id)

    def _select(self) -> Select[Any]:
        return select(self.model)

    def list_query(self, request: Request) -> Select[Any]:
        return self._scoped(self._select(), request)

    def count_query(self, request: Request) -> Select[Any]:
        return self._scoped(select(func.count()).select_from(self.model), request)

    async def list(self, request: Request) -> Any:
        for name, value in request.query_params.multi_items():
            if "\x00" in value:
                raise HTTPException(400, f"{name} contains a NUL character")
        return await super().list(request)

    def _by_pk(self, request: Request, pk: str) -> Select[Any]:
        if "\x00" in pk:
            raise HTTPException(404, f"no {self.name.lower()} with that key")
        try:
            values = object_identifier_values(pk, self.model)
        except (ValueError, TypeError) as exc:
            raise HTTPException(404, f"no {self.name.lower()} {pk!r}") from exc
        conditions = [c == v for c, v in zip(self.pk_columns, values, strict=True)]
        return self._scoped(self._select().where(*conditions), request)

    def details_query(self, request: Request) -> Select[Any]:
        stmt = self._by_pk(request, request.path_params["pk"])
        return stmt.options(*(selectinload(r) for r in self._details_relations))

    def form_edit_query(self, request: Request) -> Select[Any]:
        return self._by_pk(request, request.path_params["pk"])

    async def count(self, request: Request, stmt: Select[Any] | None = None) -> int:
        """Exact up to COUNT_CAP rows (then the pager stops there): a tenant's millions of
        events or feed items are not counted for a page of 25."""
        if stmt is None:
            return int(await super().count(request, stmt))
        listed = stmt.get_final_froms()[0]
        inner = getattr(listed, "element", None)
        if not isinstance(inner, Select):
            return int(await super().count(request, stmt))
        capped = select(func.count()).select_from(inner.order_by(None).limit(COUNT_CAP).subquery())
        return int(await super().count(request, capped))

    async def get_object_filepath(self, identifier: str, column_name: str) -> Any:
        raise HTTPException(404, "these records hold no files")

    async def _row(self, request: Request, pk: str) -> Any:
        rows = await self._run_query(self._by_pk(request, pk))
        if not rows:
            raise HTTPException(404, f"no {self.name.lower()} {pk!r}")
        return rows[0]

    async def check_can_view_details(self, request: Request, model: Any) -> bool:
        if model is None:
            raise HTTPException(404, f"no such {self.name.lower()}")
        return await super().check_can_view_details(request, model)

    async def check_can_edit(self, request: Request, model: Any) -> bool:
        if model is None:
            raise HTTPException(404, f"no such {self.name.lower()}")
        return await super().check_can_edit(request, model)

    async def check_can_delete(self, request: Request, model: Any) -> bool:
        if model is None:
            raise HTTPException(404, f"no such {self.name.lower()}")
        return await super().check_can_delete(request, model)

    @asynccontextmanager
    async def changing(self, request: Request, row: Any) -> AsyncIterator[tuple[AsyncSession, Any]]:
        """A transaction of the app's for a change to `row`, with the principal the
        services see: the admin, acting in the row's tenant."""
        user: AdminUser = current(request)
        async with transaction(self.wiring.factory, self.wiring.prepare) as session:
            yield session, user.actor(row.tenant_id)

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        raise Refused("records are created through the API")

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        raise Refused(f"{self.name_plural.lower()} are not edited here")

    async def delete_model(self, request: Request, pk: Any) -> None:
        raise Refused(f"{self.name_plural.lower()} are not deleted here")


def _changed(
    row: Any, data: dict[str, Any], names: tuple[str, ...], nullable: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The form's fields whose values differ from the row's; a blank `nullable` field
    means none (an unassigned milestone), other blank text stays text."""
    out: dict[str, Any] = {}
    for name in names:
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, str):
            value = value.strip()
            if value == "" and name in nullable:
                value = None
        current = getattr(row, name)
        if value != current and not (value in (None, "") and current in (None, "")):
            out[name] = value
    return out


def _invalid(exc: ValidationError) -> Refused:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return Refused(f"{where}: {first['msg']}")


class StreamAdmin(TenantView, model=Stream):
    name = "Stream"
    icon = "fa-solid fa-stream"
    can_delete = False  # a stream holds immutable events: deactivate it instead
    column_list = [
        Stream.name,
        Stream.slug,
        Stream.stream_type,
        Stream.is_active,
        Stream.event_count,
        Stream.subscriber_count,
        Stream.last_event_at,
    ]
    column_labels = {
        Stream.name: "Name",
        Stream.slug: "Slug",
        Stream.stream_type: "Type",
        Stream.is_active: "State",
        Stream.event_count: "Events",
        Stream.subscriber_count: "Subscribers",
        Stream.last_event_at: "Last event",
        Stream.object_type: "Object type",
        Stream.object_id: "Object id",
    }
    column_searchable_list = [Stream.name, Stream.description, Stream.slug]
    column_sortable_list = [
        Stream.name,
        Stream.created_at,
        Stream.event_count,
        Stream.subscriber_count,
        Stream.last_event_at,
    ]
    column_default_sort = [(Stream.created_at, True)]
    column_filters = [
        filters.Choices(Stream.stream_type, "Type", filters.named([t.value for t in StreamType])),
        filters.YesNo(Stream.is_active, "Active"),
    ]
    column_formatters = {
        Stream.stream_type: formatters.plain_badge("stream_type"),
        Stream.is_active: formatters.flag("is_active", ("active", "green"), ("inactive", "dark")),
        Stream.last_event_at: formatters.when("last_event_at", "no events"),
    }
    column_formatters_detail = column_formatters
    form_columns = [Stream.name, Stream.description, Stream.is_active]
    form_overrides = {"description": TextAreaField}

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        row = await self._row(request, pk)
        try:
            changes = StreamChange.model_validate(
                _changed(row, data, ("name", "description", "is_active"))
            )
        except ValidationError as exc:
            raise _invalid(exc) from exc
        async with self.changing(request, row) as (session, actor):
            return unwrap(
                await stream_service.update(session, actor=actor, stream_id=row.id, changes=changes)
            )


class EventAdmin(TenantView, model=Event):
    """Events are immutable records: read-only; a delete is the API's soft delete."""

    name = "Event"
    icon = "fa-solid fa-bolt"
    can_edit = False
    column_list = [
        Event.occurred_at,
        Event.event_type,
        Event.importance,
        Event.is_deleted,
        Event.summary,
        "stream",
    ]
    column_labels = {
        Event.occurred_at: "When",
        Event.importance: "Importance",
        Event.summary: "Summary",
        Event.event_type: "Type",
        Event.actor_id: "By",
        Event.is_deleted: "State",
        Event.is_system_generated: "System generated",
        Event.stream_id: "Stream id",
        "stream": "Stream",
    }
    column_searchable_list = [Event.summary]  # shows the box; search_query uses the index
    column_details_exclude_list = [Event.search]
    column_sortable_list = [Event.occurred_at, Event.importance]
    column_default_sort = [(Event.occurred_at, True)]
    column_filters = [
        filters.event_types(Event.event_type),
        filters.importance(Event.importance),
        filters.YesNo(Event.is_deleted, "Deleted"),
        filters.YesNo(Event.is_system_generated, "System generated"),
    ]
    column_formatters = {
        Event.importance: formatters.importance("importance"),
        Event.event_type: formatters.plain_badge("event_type"),
        Event.summary: formatters.shortened("summary", 32),
        "stream": formatters.stream_of,
        Event.is_deleted: formatters.flag("is_deleted", ("deleted", "red"), ("live", "green")),
    }
    column_formatters_detail = {
        Event.importance: formatters.importance("importance"),
        "stream": formatters.stream_of,
        Event.is_deleted: formatters.flag("is_deleted", ("deleted", "red"), ("live", "green")),
    }

    def _select(self) -> Select[Any]:
        return select(Event).options(defer(Event.search))

    def search_placeholder(self) -> str:
        return "Words in the summary, description or data"

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """The events' full-text index (the API's search), not a scan of every row."""
        return stmt.where(Event.search.op("@@")(func.websearch_to_tsquery("english", term)))

    async def delete_model(self, request: Request, pk: Any) -> None:
        row = await self._row(request, str(pk))
        if row.is_deleted:
            raise Refused("this event is already deleted")
        async with self.changing(request, row) as (session, actor):
            unwrap(await activity_service.delete(session, actor=actor, event_id=row.id))


class MilestoneAdmin(TenantView, model=Milestone):
    name = "Milestone"
    icon = "fa-solid fa-flag-checkered"
    category = "Projects"
    column_list = [
        Milestone.name,
        Milestone.project_id,
        Milestone.status,
        Milestone.priority,
        Milestone.progress,
        Milestone.planned_end_date,
    ]
    column_labels = {
        Milestone.name: "Name",
        Milestone.status: "Status",
        Milestone.priority: "Priority",
        Milestone.progress: "Progress",
        Milestone.project_id: "Project",
        Milestone.planned_end_date: "Due",
        Milestone.planned_start_date: "Planned start",
        Milestone.assigned_to: "Assigned to",
        Milestone.actual_cost: "Actual cost",
        Milestone.overdue_since: "Overdue since",
    }
    column_searchable_list = [Milestone.name, Milestone.description, Milestone.project_id]
    column_sortable_list = [
        Milestone.name,
        Milestone.planned_end_date,
        Milestone.progress,
        Milestone.created_at,
    ]
    column_default_sort = [(Milestone.planned_end_date, False)]
    column_filters = [
        filters.Choices(Milestone.status, "Status", filters.named(MILESTONE_STATUSES)),
        filters.Choices(Milestone.priority, "Priority", filters.named(PRIORITIES)),
        filters.overdue(Milestone.planned_end_date, Milestone.status),
        filters.TenantValues(Milestone.project_id, "Project"),
    ]
    column_formatters = {
        Milestone.status: formatters.coloured("status", formatters.STATUS_COLOURS, "status"),
        Milestone.priority: formatters.coloured(
            "priority", formatters.PRIORITY_COLOURS, "priority"
        ),
        Milestone.progress: formatters.progress,
        Milestone.planned_end_date: formatters.due,
        Milestone.budget: formatters.money("budget"),
    }
    column_formatters_detail = {
        **column_formatters,
        Milestone.actual_cost: formatters.money("actual_cost"),
        Milestone.stream_id: formatters.link("stream_id", "stream"),
    }
    form_columns = [
        Milestone.name,
        Milestone.description,
        Milestone.status,
        Milestone.priority,
        Milestone.progress,
        Milestone.planned_start_date,
        Milestone.planned_end_date,
        Milestone.assigned_to,
        Milestone.budget,
        Milestone.actual_cost,
    ]
    form_overrides = {
        "description": TextAreaField,
        "status": SelectField,
        "priority": SelectField,
        "progress": IntegerField,
    }
    form_args = {
        "status": {"choices": filters.named(MILESTONE_STATUSES)},
        "priority": {"choices": filters.named(PRIORITIES)},
        "progress": {"validators": [NumberRange(0, 100)]},
    }
    EDITABLE = (
        "name",
        "description",
        "priority",
        "planned_start_date",
        "planned_end_date",
        "assigned_to",
        "budget",
        "actual_cost",
    )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        """The form's changes as the API would make them: field edits (PATCH), then a
        status change by its action (start, complete) or transition, then progress; all
        in one transaction, so a refused step leaves the milestone as it was."""
        row = await self._row(request, pk)
        edits = _changed(row, data, self.EDITABLE, nullable=frozenset({"assigned_to"}))
        status = data.get("status") or row.status
        progress = data.get("progress")
        try:
            changes = MilestoneUpdate.model_validate(edits)
        except ValidationError as exc:
            raise _invalid(exc) from exc
        async with self.changing(request, row) as (session, actor):
            if edits:
                unwrap(
                    await milestone_service.update(
                        session, actor=actor, milestone_id=row.id, changes=changes
                    )
                )
            if status != row.status:
                if status == "in_progress":  # from planned or on hold: the start action
                    unwrap(await milestone_service.start(session, actor=actor, milestone_id=row.id))
                elif status == "completed":
                    unwrap(
                        await milestone_service.complete(session, actor=actor, milestone_id=row.id)
                    )
                else:  # on hold, cancelled, back to planned: PATCH's transitions
                    transition = MilestoneUpdate.model_validate({"status": status})
                    unwrap(
                        await milestone_service.update(
                            session, actor=actor, milestone_id=row.id, changes=transition
                        )
                    )
            if progress is not None and progress != row.progress and status != "completed":
                unwrap(
                    await milestone_service.update_progress(
                        session, actor=actor, milestone_id=row.id, progress=int(progress)
                    )
                )
            return row

    async def delete_model(self, request: Request, pk: Any) -> None:
        row = await self._row(request, str(pk))
        async with self.changing(request, row) as (session, actor):
            unwrap(await milestone_service.delete(session, actor=actor, milestone_id=row.id))


class SubscriptionAdmin(TenantView, model=Subscription):
    name = "Subscription"
    icon = "fa-solid fa-bell"
    column_list = [
        Subscription.user_id,
        "stream",
        Subscription.subscription_type,
        Subscription.notify_email,
        Subscription.notify_push,
        Subscription.min_importance,
        Subscription.last_read_at,
    ]
    column_labels = {
        Subscription.user_id: "User",
        "stream": "Stream",
        Subscription.subscription_type: "Type",
        Subscription.notify_email: "Email",
        Subscription.notify_push: "Push",
        Subscription.min_importance: "From",
        Subscription.last_read_at: "Last read",
    }
    column_searchable_list = [Subscription.user_id]
    column_sortable_list = [
        Subscription.user_id,
        Subscription.created_at,
        Subscription.last_read_at,
    ]
    column_default_sort = [(Subscription.created_at, True)]
    column_filters = [
        filters.Choices(Subscription.subscription_type, "Type", filters.named(SUBSCRIPTION_TYPES)),
        filters.YesNo(Subscription.notify_email, "Email"),
        filters.YesNo(Subscription.notify_push, "Push"),
        filters.importance(Subscription.min_importance, "From importance"),
        filters.YesNo(
            Subscription.last_read_at,
            "Ever read",
            parameter="ever_read",
            where=lambda: Subscription.last_read_at.is_not(None),
        ),
    ]
    column_formatters = {
        "stream": formatters.stream_of,
        Subscription.subscription_type: formatters.plain_badge("subscription_type"),
        Subscription.min_importance: formatters.importance("min_importance"),
        Subscription.last_read_at: formatters.when("last_read_at", "never read"),
    }
    column_formatters_detail = column_formatters
    form_columns = [
        Subscription.subscription_type,
        Subscription.notify_email,
        Subscription.notify_push,
        Subscription.min_importance,
    ]
    form_overrides = {"subscription_type": SelectField, "min_importance": SelectField}
    form_args = {
        "subscription_type": {"choices": filters.named(SUBSCRIPTION_TYPES)},
        "min_importance": {"choices": IMPORTANCE_CHOICES, "coerce": int},
    }

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        row = await self._row(request, pk)
        kind = data.get("subscription_type") or row.subscription_type
        if kind not in SUBSCRIPTION_TYPES:
            raise Refused(f"subscription_type must be one of {', '.join(SUBSCRIPTION_TYPES)}")
        try:
            level = Importance(int(data.get("min_importance") or row.min_importance))
        except ValueError as exc:
            raise Refused("min_importance must be 1 (low) to 4 (critical)") from exc
        async with self.changing(request, row) as (session, actor):
            return unwrap(
                await subscription_service.reconfigure(
                    session,
                    actor=actor,
                    subscription_id=row.id,
                    subscription_type=kind,
                    notify_email=bool(data.get("notify_email")),
                    notify_push=bool(data.get("notify_push")),
                    min_importance=level,
                )
            )

    async def delete_model(self, request: Request, pk: Any) -> None:
        row = await self._row(request, str(pk))
        async with self.changing(request, row) as (session, actor):
            unwrap(await subscription_service.remove(session, actor=actor, subscription_id=row.id))


class CommentAdmin(TenantView, model=MilestoneComment):
    name = "Comment"
    icon = "fa-solid fa-comments"
    category = "Projects"
    can_delete = False  # comments have no delete in the API: a thread keeps its replies
    column_list = [
        MilestoneComment.created_at,
        MilestoneComment.milestone_id,
        MilestoneComment.author_id,
        MilestoneComment.content,
        MilestoneComment.parent_id,
        MilestoneComment.is_edited,
    ]
    column_labels = {
        MilestoneComment.created_at: "When",
        MilestoneComment.milestone_id: "Milestone",
        MilestoneComment.author_id: "Author",
        MilestoneComment.content: "Comment",
        MilestoneComment.parent_id: "Thread",
        MilestoneComment.is_edited: "Edits",
    }
    column_searchable_list = [MilestoneComment.content, MilestoneComment.author_id]
    column_sortable_list = [MilestoneComment.created_at, MilestoneComment.author_id]
    column_default_sort = [(MilestoneComment.created_at, True)]
    column_filters = [
        filters.YesNo(MilestoneComment.is_edited, "Edited"),
        filters.YesNo(
            MilestoneComment.parent_id,
            "Reply",
            parameter="reply",
            where=lambda: MilestoneComment.parent_id.is_not(None),
        ),
    ]
    column_formatters = {
        MilestoneComment.milestone_id: formatters.link("milestone_id", "milestone"),
        MilestoneComment.content: formatters.shortened("content", 40),
        MilestoneComment.parent_id: formatters.reply_to,
        MilestoneComment.is_edited: formatters.edited,
    }
    column_formatters_detail = {
        MilestoneComment.milestone_id: formatters.link("milestone_id", "milestone"),
        MilestoneComment.parent_id: formatters.reply_to,
        MilestoneComment.is_edited: formatters.edited,
    }
    form_columns = [MilestoneComment.content]
    form_overrides = {"content": TextAreaField}

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        row = await self._row(request, pk)
        content = str(data.get("content") or "").strip()
        if not content or len(content) > 10_000:
            raise Refused("a comment is 1 to 10,000 characters")
        if content == row.content:
            return row
        async with self.changing(request, row) as (session, actor):
            return unwrap(
                await milestone_service.edit_comment(
                    session,
                    actor=actor,
                    milestone_id=row.milestone_id,
                    comment_id=row.id,
                    content=content,
                )
            )


class FeedItemAdmin(TenantView, model=FeedItem):
    """Users' feed rows, read-only: they change only by fan-out, reads and retention,
    which keep the unread counters exact."""

    name = "Feed item"
    icon = "fa-solid fa-inbox"
    can_edit = False
    can_delete = False
    column_list = [
        FeedItem.user_id,
        FeedItem.created_at,
        FeedItem.activity_type,
        "stream",
        FeedItem.is_read,
        FeedItem.read_at,
    ]
    column_labels = {
        FeedItem.user_id: "User",
        FeedItem.created_at: "When",
        FeedItem.activity_type: "Type",
        FeedItem.is_read: "State",
        FeedItem.read_at: "Read",
        FeedItem.event_id: "Event id",
        FeedItem.stream_id: "Stream id",
        "stream": "Stream",
    }
    column_searchable_list = [FeedItem.user_id]
    column_sortable_list = [FeedItem.user_id, FeedItem.created_at]
    # The key's order (tenant, user, time): a page is an index range, not a sort.
    column_default_sort = [(FeedItem.user_id, False), (FeedItem.created_at, True)]
    column_filters = [
        filters.event_types(FeedItem.activity_type, "Activity type"),
        filters.YesNo(FeedItem.is_read, "Read"),
    ]
    column_formatters = {
        FeedItem.activity_type: formatters.plain_badge("activity_type"),
        "stream": formatters.stream_of,
        FeedItem.is_read: formatters.flag("is_read", ("read", "secondary"), ("unread", "blue")),
        FeedItem.read_at: formatters.when("read_at", "unread"),
    }
    column_formatters_detail = column_formatters

    def search_placeholder(self) -> str:
        return "A user's id (exact)"

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """One user's feed: the key's range (a substring match would read every row)."""
        return stmt.where(FeedItem.user_id == term.strip())


class EventTypeAdmin(TenantView, model=EventType):
    """The tenant's registered types (built-in ones live in code), read-only: a type's
    schema validates recorded events, so it is changed by registering a new one."""

    name = "Event type"
    icon = "fa-solid fa-tags"
    category = "Configuration"
    can_edit = False
    can_delete = False
    column_list = [
        EventType.key,
        EventType.label,
        EventType.category,
        EventType.default_importance,
        EventType.icon,
        EventType.created_at,
    ]
    column_labels = {
        EventType.key: "Key",
        EventType.label: "Label",
        EventType.category: "Category",
        EventType.icon: "Icon",
        EventType.default_importance: "Importance",
        EventType.created_at: "Added",
    }
    column_searchable_list = [EventType.key, EventType.label, EventType.description]
    column_sortable_list = [EventType.key, EventType.created_at]
    column_default_sort = [(EventType.key, False)]
    column_filters = [
        filters.TenantValues(EventType.category, "Category"),
        filters.importance(EventType.default_importance, "Default importance"),
    ]
    column_formatters = {
        EventType.category: formatters.plain_badge("category"),
        EventType.default_importance: formatters.importance("default_importance"),
    }
    column_formatters_detail = column_formatters


VIEWS: tuple[type[TenantView], ...] = (
    StreamAdmin,
    EventAdmin,
    MilestoneAdmin,
    CommentAdmin,
    SubscriptionAdmin,
    FeedItemAdmin,
    EventTypeAdmin,
)


def bound(view: type[TenantView], wiring: Wiring) -> type[TenantView]:
    """A subclass per admin site: sqladmin sets its engine and site on the view class, and
    a process may serve more than one app (the tests do)."""
    return type(view.__name__, (view,), {"wiring": wiring})
