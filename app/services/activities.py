"""CRM-style activities (seeds 001 and 004): per-object timelines, the company-wide list,
edits and soft deletes of manual events, summaries and stats."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from app.models import Event
from app.pagination import Page, PageRequest
from app.repositories.activities import ActivityRepository
from app.repositories.events import EventFilter, EventRepository
from app.repositories.streams import StreamRepository
from app.repositories.users import UserRepository
from app.result import Err, Ok, Result
from app.schemas.activities import TimelineEventUpdate
from app.services.event_catalog import render_summary
from app.services.event_types import event_type_service
from app.services.events import EventView, event_service
from app.services.streams import canonical_object_type

GroupBy = Literal["day", "type", "actor"]
PERIODS: dict[str, timedelta | None] = {
    "last_7_days": timedelta(days=7),
    "last_30_days": timedelta(days=30),
    "last_90_days": timedelta(days=90),
    "all_time": None,
}


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    label: str
    events: list[EventView]


@dataclass(frozen=True, slots=True)
class Timeline:
    page: Page[EventView]
    groups: list[Group] | None


@dataclass(frozen=True, slots=True)
class Activities:
    page: Page[EventView]
    assignee_names: dict[str, str]


@dataclass(frozen=True, slots=True)
class Summary:
    counts: dict[str, int]
    start: datetime | None
    end: datetime


def _display_name(first: str | None, last: str | None, email: str | None, user_id: str) -> str:
    full = " ".join(part for part in (first, last) if part)
    return full or email or user_id


def group_events(
    events: Sequence[EventView], group_by: GroupBy, tz: ZoneInfo, now: datetime
) -> list[Group]:
    """The page's events under headings, in the order they first appear (newest first)."""
    today = now.astimezone(tz).date()
    week_start = today - timedelta(days=today.weekday())

    def heading(event: EventView) -> tuple[str, str]:
        if group_by == "type":
            return event.event_type, event.event_type_display
        if group_by == "actor":
            if event.actor is None:
                return "system", "System"
            a = event.actor
            return a.id, _display_name(a.first_name, a.last_name, a.email, a.id)
        day = event.occurred_at.astimezone(tz).date()
        if day >= today:
            return "today", "Today"
        if day == today - timedelta(days=1):
            return "yesterday", "Yesterday"
        if day >= week_start:
            return "this_week", "This week"
        return "earlier", "Earlier"

    groups: dict[str, Group] = {}
    for event in events:
        key, label = heading(event)
        groups.setdefault(key, Group(key, label, [])).events.append(event)
    return list(groups.values())


class ActivityService:
    async def _known_types(
        self, session: AsyncSession, tenant_id: str, types: Sequence[str], field: str
    ) -> ValidationFailed | None:
        known = await event_type_service.resolve(session, tenant_id, types)
        unknown = sorted(set(types) - known.keys())
        if unknown:
            return ValidationFailed.at(
                (field,), f"unknown event type {unknown[0]!r}", "unknown_type"
            )
        return None

    async def timeline(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        object_type: str,
        object_id: str,
        filters: EventFilter,
        page: PageRequest,
        group_by: GroupBy | None,
        tz: ZoneInfo,
    ) -> Result[Timeline, NotFound | ValidationFailed]:
        """An object's events, newest first (seed 001). An object without a stream in this
        tenant (never recorded, or another tenant's) is not found."""
        invalid = await self._known_types(
            session, actor.tenant_id, filters.event_types, "event_type"
        )
        if invalid:
            return Err(invalid)
        stream = await StreamRepository(session).get_for_object(
            actor.tenant_id, canonical_object_type(object_type), object_id
        )
        if stream is None:
            return Err(
                NotFound(
                    f"no activity recorded for {object_type} {object_id!r}",
                    {"object_type": object_type, "object_id": object_id},
                )
            )
        result = await event_service.page(
            session, actor.tenant_id, stream, filters, page, headlines=filters.text is not None
        )
        groups = group_events(result.items, group_by, tz, datetime.now(UTC)) if group_by else None
        return Ok(Timeline(result, groups))

    async def list_activities(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        filters: EventFilter,
        page: PageRequest,
        include_archived: bool = False,
    ) -> Result[Activities, ValidationFailed | Forbidden]:
        """The tenant's activities (seed 004), newest first; with a text filter, best
        match first on numbered pages. `include_archived` (admins, no text filter) adds
        the archived ones."""
        if include_archived and not actor.is_admin:
            return Err(Forbidden("archived activities are for admins"))
        if include_archived and filters.text is not None:
            return Err(
                ValidationFailed.at(
                    ("include_archived",), "the archive is not searched: leave out q"
                )
            )
        invalid = await self._known_types(
            session, actor.tenant_id, filters.event_types, "activity_type"
        )
        if invalid:
            return Err(invalid)
        if filters.object_type is not None:
            filters = replace(filters, object_type=canonical_object_type(filters.object_type))
        if filters.text is not None:
            searched = await event_service.search(
                session, actor=actor, filters=filters, slug=None, page=page
            )
            assert searched.success
            result = searched.data
        else:
            result = await event_service.page(
                session, actor.tenant_id, None, filters, page, include_archived=include_archived
            )
        assignees = {e.assigned_to for e in result.items if e.assigned_to}
        users = await UserRepository(session).get_many(actor.tenant_id, assignees)
        names = {
            uid: _display_name(u.first_name, u.last_name, u.email, uid) for uid, u in users.items()
        }
        return Ok(Activities(result, names))

    async def summary(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        object_type: str,
        object_id: str,
        period: str,
        tz: ZoneInfo,
    ) -> Result[Summary, NotFound]:
        """Counts per event type over the period (seed 001's `activity_summary`)."""
        stream = await StreamRepository(session).get_for_object(
            actor.tenant_id, canonical_object_type(object_type), object_id
        )
        if stream is None:
            return Err(NotFound(f"no activity recorded for {object_type} {object_id!r}"))
        now = datetime.now(UTC)
        if period == "today":
            start: datetime | None = datetime.combine(
                now.astimezone(tz).date(), datetime.min.time(), tz
            )
        else:
            span = PERIODS[period]
            start = now - span if span else None
        counts = await EventRepository(session).counts_by_type(actor.tenant_id, stream.id, start)
        return Ok(Summary(counts, start, now))

    async def stats(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        first: date,
        last: date,
        dimensions: Sequence[str],
    ) -> Result[list[dict[str, object]], ValidationFailed]:
        if last < first:
            return Err(ValidationFailed.at(("date_to",), "date_to is before date_from"))
        if (last - first).days > 3660:
            return Err(ValidationFailed.at(("date_from",), "the range exceeds ten years"))
        columns = ["event_type" if d == "activity_type" else d for d in dimensions]
        rows = await ActivityRepository(session).stats(actor.tenant_id, first, last, columns)
        for row in rows:
            if "event_type" in row:
                row["activity_type"] = row.pop("event_type")
        return Ok(rows)

    async def _changeable(
        self, session: AsyncSession, actor: Principal, event_id: uuid.UUID
    ) -> Result[Event, NotFound | Forbidden]:
        event = await EventRepository(session).get_for_change(actor.tenant_id, event_id)
        if event is None:
            return Err(NotFound(f"event {event_id} not found", {"id": str(event_id)}))
        if not actor.is_admin and event.actor_id != actor.user_id:
            return Err(Forbidden("only the author (or an admin) may change this event"))
        return Ok(event)

    async def update(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        event_id: uuid.UUID,
        changes: TimelineEventUpdate,
    ) -> Result[EventView, NotFound | Forbidden | InvalidState | ValidationFailed]:
        """Edits a manual event: data is re-validated against its type, an auto-rendered
        summary follows the new data, the rollup and the live layer (outbox) follow."""
        found = await self._changeable(session, actor, event_id)
        if isinstance(found, Err):
            return found
        event = found.data
        if event.is_system_generated:
            return Err(InvalidState("system-generated events cannot be edited"))
        types = await event_type_service.resolve(session, actor.tenant_id, [event.event_type])
        type_ = types.get(event.event_type)
        fields = changes.model_fields_set
        if "data" in fields and changes.data is not None:
            if type_ is not None:
                errors = type_.validate(changes.data)
                if errors:
                    return Err(ValidationFailed(errors[0].message, errors=tuple(errors)))
            label = type_.label if type_ else event.event_type
            template = type_.summary_template if type_ else ""
            was_rendered = event.summary == render_summary(template, event.data, label)
            event.data = changes.data
            if "summary" not in fields and was_rendered:
                event.summary = render_summary(template, changes.data, label)
        if "summary" in fields and changes.summary is not None:
            event.summary = changes.summary
        if "description" in fields and changes.description is not None:
            event.description = changes.description
        old_key = (event.status, event.assigned_to or event.actor_id)
        for name in ("assigned_to", "status", "priority"):
            if name in fields:
                setattr(event, name, getattr(changes, name))
        new_key = (event.status, event.assigned_to or event.actor_id)
        if new_key != old_key:
            await self._move_in_rollup(session, event, old_key, new_key)
        event.edited_at = datetime.now(UTC)
        repo = EventRepository(session)
        await session.flush()
        await repo.record_change(event, "updated")
        view = await repo.get_view(actor.tenant_id, event.id)
        assert view is not None
        return Ok((await event_service.views(session, actor.tenant_id, [view]))[0])

    async def delete(
        self, session: AsyncSession, *, actor: Principal, event_id: uuid.UUID
    ) -> Result[None, NotFound | Forbidden]:
        """Soft delete: hidden from every read, uncounted, kept until retention purges it."""
        found = await self._changeable(session, actor, event_id)
        if isinstance(found, Err):
            return found
        event = found.data
        repo = EventRepository(session)
        await repo.soft_delete(event, datetime.now(UTC))
        await ActivityRepository(session).adjust(
            tenant_id=event.tenant_id,
            day=event.occurred_at.astimezone(UTC).date(),
            event_type=event.event_type,
            status=event.status,
            user_id=event.assigned_to or event.actor_id,
            delta=-1,
        )
        await repo.record_change(event, "deleted")
        return Ok(None)

    async def _move_in_rollup(
        self,
        session: AsyncSession,
        event: Event,
        old: tuple[str | None, str | None],
        new: tuple[str | None, str | None],
    ) -> None:
        rollup = ActivityRepository(session)
        day = event.occurred_at.astimezone(UTC).date()
        for (status, user_id), delta in ((old, -1), (new, 1)):
            await rollup.adjust(
                tenant_id=event.tenant_id,
                day=day,
                event_type=event.event_type,
                status=status,
                user_id=user_id,
                delta=delta,
            )


activity_service = ActivityService()
