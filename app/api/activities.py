"""Seeds 001 and 004: `/api/v1/activities/...` timelines, list, summary and stats."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from app.api.deps import CurrentUser, Paging, Session
from app.api.errors import ProblemError, problem_responses, unwrap
from app.api.listing import list_body
from app.api.streams import EventTypesQuery, split_types
from app.repositories.events import EventFilter
from app.schemas.activities import (
    ActivityList,
    ActivityRead,
    ActivityStatsRead,
    ActivityStatsRow,
    ActivitySummaryRead,
    Period,
    StatsDimension,
    TimelineEventRead,
    TimelineEventUpdate,
    TimelineGroup,
    TimelineObject,
    TimelinePagination,
    TimelineRead,
)
from app.schemas.events import ActivityPriority, ActivityStatus, EventCreate
from app.services.activities import GroupBy, activity_service
from app.services.events import EventView, ObjectTarget, SearchHit, event_service

router = APIRouter(prefix="/api/v1/activities", tags=["activities"])
EventId = Annotated[uuid.UUID, Path(alias="id", description="The event.")]

DateOrTime = date | datetime
ObjectTypeQuery = Annotated[
    str, Query(min_length=1, max_length=100, description="`lead` or `crm.lead`, `project`, ...")
]
ObjectIdQuery = Annotated[str, Query(min_length=1, max_length=255)]


def _bad_query(name: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "validation_failed",
        f"query.{name}: {message}",
        errors=[{"loc": ["query", name], "msg": message, "type": "value_error"}],
    )


async def time_zone(
    tz: Annotated[
        str, Query(max_length=64, description="IANA time zone, e.g. Europe/Paris.")
    ] = "UTC",
) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _bad_query("tz", f"unknown time zone {tz!r}") from exc


TimeZone = Annotated[ZoneInfo, Depends(time_zone)]


def _instant(value: DateOrTime, tz: ZoneInfo, *, end: bool) -> datetime:
    """A date means its whole day in `tz` (so `date_to=2024-01-31` includes the 31st);
    a time without a zone is in `tz`."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time.min, tz)


async def window(
    tz: TimeZone,
    date_from: Annotated[
        DateOrTime | None, Query(description="From this date (in `tz`) or instant.")
    ] = None,
    date_to: Annotated[
        DateOrTime | None, Query(description="Up to this date, inclusive, or instant.")
    ] = None,
) -> tuple[datetime | None, datetime | None]:
    since = _instant(date_from, tz, end=False) if date_from is not None else None
    until = _instant(date_to, tz, end=True) if date_to is not None else None
    if since and until and until <= since:
        raise _bad_query("date_to", "date_to is before date_from")
    return since, until


Window = Annotated[tuple[datetime | None, datetime | None], Depends(window)]
TextQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=500, description="Search in event content (stemmed, prefixes)."),
]


def _timeline_event(view: EventView, object_type: str) -> TimelineEventRead:
    """Seed 001's shape; `object_type` echoes the form the client asked with."""
    return TimelineEventRead.model_validate(
        {
            "id": view.id,
            "event_type": view.event_type,
            "actor": view.actor,
            "object_type": object_type,
            "object_id": view.object_id,
            "data": view.data,
            "summary": view.summary,
            "is_system_generated": view.is_system_generated,
            "created_at": view.occurred_at,
            "updated_at": view.updated_at,
            "event_type_display": view.event_type_display,
            "icon": view.icon,
            "importance": view.importance,
            "description": view.description,
            "assigned_to": view.assigned_to,
            "status": view.status,
            "priority": view.priority,
            "recorded_at": view.created_at,
            "headline": view.headline if isinstance(view, SearchHit) else None,
        }
    )


def _activity(view: EventView, names: dict[str, str]) -> ActivityRead:
    subject = view.data.get("subject") or view.data.get("title") or view.summary
    assignee = view.assigned_to
    return ActivityRead.model_validate(
        {
            "id": view.id,
            "activity_type": view.event_type,
            "activity_type_display": view.event_type_display,
            "subject": str(subject),
            "description": view.description,
            "summary": view.summary,
            "activity_date": view.occurred_at,
            "related_to": {
                "type": view.object_type,
                "id": view.object_id,
                "name": view.stream_name,
            },
            "assigned_to": {"id": assignee, "name": names.get(assignee, assignee)}
            if assignee
            else None,
            "actor": view.actor,
            "status": view.status,
            "priority": view.priority,
            "data": view.data,
            "headline": view.headline if isinstance(view, SearchHit) else None,
        }
    )


@router.get(
    "/timeline/",
    summary="An object's activity timeline",
    description="Seed 001's timeline: the object's events, newest first. Page with `page` "
    "or `cursor`; filter by type, actor, dates and text; `group_by` adds the page grouped "
    "under Today / Yesterday / This week / Earlier (in `tz`), by type or by actor. An "
    "object with no recorded activity in your tenant is 404.",
    response_model=TimelineRead,
    responses=problem_responses(401, 404, 422),
)
async def timeline(
    session: Session,
    user: CurrentUser,
    paging: Paging,
    dates: Window,
    tz: TimeZone,
    object_type: ObjectTypeQuery,
    object_id: ObjectIdQuery,
    event_type: EventTypesQuery = None,
    actor: Annotated[
        str | None, Query(max_length=255, description="Only this user's events.")
    ] = None,
    q: TextQuery = None,
    group_by: Annotated[GroupBy | None, Query(description="day, type or actor")] = None,
) -> TimelineRead:
    since, until = dates
    filters = EventFilter(
        event_types=split_types(event_type), actor_id=actor, since=since, until=until, text=q
    )
    result = unwrap(
        await activity_service.timeline(
            session,
            actor=user,
            object_type=object_type,
            object_id=object_id,
            filters=filters,
            page=paging,
            group_by=group_by,
            tz=tz,
        ),
        location="query",
    )
    page = result.page
    groups = (
        [
            TimelineGroup(
                key=g.key,
                label=g.label,
                count=len(g.events),
                events=[_timeline_event(e, object_type) for e in g.events],
            )
            for g in result.groups
        ]
        if result.groups is not None
        else None
    )
    return TimelineRead(
        object=TimelineObject(type=object_type, id=object_id),
        events=[_timeline_event(e, object_type) for e in page.items],
        pagination=TimelinePagination(
            page=paging.page or 1, page_size=paging.page_size, total=page.total
        ),
        next_cursor=page.next_cursor.encode() if page.next_cursor else None,
        groups=groups,
    )


@router.post(
    "/timeline/",
    summary="Record an activity on an object's timeline",
    description="Seed 001's `TimelineEvent.record`: the event type, the target object "
    "(`object_type`, `object_id`), data validated against the type's schema, an optional "
    "summary (rendered from the type's template when absent); `is_system_generated` events "
    "have no actor.",
    status_code=status.HTTP_201_CREATED,
    response_model=TimelineEventRead,
    responses={
        200: {"description": "Replayed (idempotency key)"},
        **problem_responses(401, 403, 409, 422),
    },
)
async def record(
    body: EventCreate, session: Session, user: CurrentUser, response: Response
) -> TimelineEventRead:
    target = ObjectTarget(body.object_type, body.object_id, body.stream_type, body.stream_name)
    recorded = unwrap(
        await event_service.record(session, actor=user, target=target, new=body),
        location="body",
    )
    if recorded.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return _timeline_event(recorded.event, body.object_type)


@router.patch(
    "/timeline/{id}/",
    summary="Edit your own manual event",
    description="Authors edit their own events (admins any). System-generated events "
    "cannot be edited (409). Edits set `updated_at` and reach the live layer.",
    response_model=TimelineEventRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def edit(
    event_id: EventId, body: TimelineEventUpdate, session: Session, user: CurrentUser
) -> TimelineEventRead:
    view = unwrap(
        await activity_service.update(session, actor=user, event_id=event_id, changes=body),
        location="body",
    )
    return _timeline_event(view, view.object_type or "")


@router.delete(
    "/timeline/{id}/",
    summary="Delete your own event (soft)",
    description="Hidden from every read and uncounted; retention purges it later.",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404),
)
async def delete(event_id: EventId, session: Session, user: CurrentUser) -> Response:
    unwrap(await activity_service.delete(session, actor=user, event_id=event_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/",
    summary="Company-wide activities",
    description="Seed 004's list: every activity of the tenant, newest first (with `q`: "
    "best match first, numbered pages), filterable by object, type, dates, assignee, status "
    "and priority.",
    response_model=ActivityList,
    responses=problem_responses(401, 403, 422),
)
async def list_activities(
    request: Request,
    session: Session,
    user: CurrentUser,
    paging: Paging,
    dates: Window,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=255)] = None,
    activity_type: EventTypesQuery = None,
    assigned_to: Annotated[str | None, Query(max_length=255)] = None,
    status_: Annotated[ActivityStatus | None, Query(alias="status")] = None,
    priority: ActivityPriority | None = None,
    q: TextQuery = None,
    include_archived: Annotated[
        bool, Query(description="Admins: also the archived events (older than two years).")
    ] = False,
) -> dict[str, Any]:
    since, until = dates
    filters = EventFilter(
        object_type=object_type,
        object_id=object_id,
        event_types=split_types(activity_type),
        since=since,
        until=until,
        assigned_to=assigned_to,
        status=status_,
        priority=priority,
        text=q,
    )
    result = unwrap(
        await activity_service.list_activities(
            session, actor=user, filters=filters, page=paging, include_archived=include_archived
        ),
        location="query",
    )
    results = [_activity(v, result.assignee_names) for v in result.page.items]
    return list_body(request, result.page, paging, results)


@router.get(
    "/summary/",
    summary="Activity counts per type for an object",
    description="Seed 001's `activity_summary`: how many events of each type the object "
    "had over the period.",
    response_model=ActivitySummaryRead,
    responses=problem_responses(401, 404, 422),
)
async def summary(
    session: Session,
    user: CurrentUser,
    tz: TimeZone,
    object_type: ObjectTypeQuery,
    object_id: ObjectIdQuery,
    period: Period = "last_7_days",
) -> ActivitySummaryRead:
    result = unwrap(
        await activity_service.summary(
            session, actor=user, object_type=object_type, object_id=object_id, period=period, tz=tz
        )
    )
    data: dict[str, Any] = {"period": period}
    data.update({f"{event_type}_count": n for event_type, n in result.counts.items()})
    data["total_count"] = sum(result.counts.values())
    return ActivitySummaryRead(
        object=TimelineObject(type=object_type, id=object_id),
        data=data,
        date_range={"start": result.start, "end": result.end},
    )


async def _dimensions(
    group: Annotated[
        str, Query(max_length=100, description="Comma-separated: day, activity_type, status.")
    ] = "day,activity_type,status",
) -> list[StatsDimension]:
    allowed: tuple[StatsDimension, ...] = ("day", "activity_type", "status")
    chosen: list[StatsDimension] = []
    for raw in group.split(","):
        name = raw.strip()
        if name not in allowed:
            raise _bad_query("group", f"unknown dimension {name!r}; use {', '.join(allowed)}")
        dimension: StatsDimension = name
        if dimension not in chosen:
            chosen.append(dimension)
    return chosen


@router.get(
    "/stats/",
    summary="Activity counts per day, type and status",
    description="Seed 004's timeline summary: counts and distinct users per UTC day, "
    "activity type and status (any subset, via `group`), read from a rollup kept current "
    "as events are recorded, edited and deleted. Defaults to the last 30 days.",
    response_model=ActivityStatsRead,
    response_model_exclude_unset=True,
    responses=problem_responses(401, 422),
)
async def stats(
    session: Session,
    user: CurrentUser,
    dimensions: Annotated[list[StatsDimension], Depends(_dimensions)],
    date_from: Annotated[date | None, Query(description="First UTC day (inclusive).")] = None,
    date_to: Annotated[date | None, Query(description="Last UTC day (inclusive).")] = None,
) -> ActivityStatsRead:
    last = date_to or datetime.now(UTC).date()
    first = date_from or last - timedelta(days=29)
    rows = unwrap(
        await activity_service.stats(
            session, actor=user, first=first, last=last, dimensions=dimensions
        ),
        location="query",
    )
    return ActivityStatsRead(
        date_from=first,
        date_to=last,
        group=dimensions,
        results=[ActivityStatsRow.model_validate(row) for row in rows],
    )
