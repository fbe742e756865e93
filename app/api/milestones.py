"""Seed 000's milestone endpoints: `/api/milestones/...`."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import icalendar
from fastapi import APIRouter, Path, Query, Request, Response, status

from app.api.deps import CurrentUser, NumberedPaging, Session
from app.api.errors import problem_responses, unwrap
from app.models import Milestone, MilestoneComment
from app.repositories.milestones import MilestoneFilter
from app.schemas.milestones import (
    CommentCreate,
    CommentRead,
    CommentUpdate,
    CriticalPathRead,
    DependencyBody,
    GanttRead,
    GanttRow,
    MilestoneCreate,
    MilestoneDashboardRead,
    MilestoneList,
    MilestonePriority,
    MilestoneRead,
    MilestoneReplace,
    MilestoneStatus,
    MilestoneUpdate,
    ProgressBody,
    ProjectTimelineRead,
    ScheduledRead,
)
from app.services.milestones import MilestoneView, milestone_service

router = APIRouter(prefix="/api/milestones", tags=["milestones"])
MilestoneId = Annotated[uuid.UUID, Path(alias="id", description="The milestone.")]
ERRORS = problem_responses(401, 404, 409, 422)


def milestone_read(view: MilestoneView) -> MilestoneRead:
    m = view.milestone
    return MilestoneRead(
        id=m.id,
        project_id=m.project_id,
        stream=view.stream_slug,
        name=m.name,
        description=m.description,
        status=m.status,
        priority=m.priority,
        planned_start_date=m.planned_start_date,
        planned_end_date=m.planned_end_date,
        actual_start_date=m.actual_start_date,
        actual_end_date=m.actual_end_date,
        progress=m.progress,
        budget=m.budget,
        actual_cost=m.actual_cost,
        variance=view.variance,
        assigned_to=m.assigned_to,
        created_by=m.created_by,
        is_overdue=view.is_overdue(datetime.now(UTC).date()),
        depends_on=view.depends_on,
        created_at=m.created_at,
        updated_at=m.updated_at,
    )


def threaded(comments: list[MilestoneComment]) -> list[CommentRead]:
    """Top-level comments with their replies nested, oldest first."""
    reads = {
        c.id: CommentRead(
            id=c.id,
            milestone_id=c.milestone_id,
            parent=c.parent_id,
            author=c.author_id,
            content=c.content,
            is_edited=c.is_edited,
            edited_at=c.edited_at,
            created_at=c.created_at,
        )
        for c in comments
    }
    roots: list[CommentRead] = []
    for comment in comments:
        read = reads[comment.id]
        parent = reads.get(comment.parent_id) if comment.parent_id else None
        (parent.replies if parent else roots).append(read)
    return roots


@router.get(
    "/",
    summary="List milestones",
    response_model=MilestoneList,
    description="In schedule order. Filters: project_id, status, priority, assigned_to, "
    "overdue (past planned end and not completed or cancelled).",
    responses=problem_responses(401, 422),
)
async def list_milestones(
    request: Request,
    session: Session,
    user: CurrentUser,
    paging: NumberedPaging,
    project_id: Annotated[str | None, Query(max_length=255)] = None,
    status_: Annotated[MilestoneStatus | None, Query(alias="status")] = None,
    priority: MilestonePriority | None = None,
    assigned_to: Annotated[str | None, Query(max_length=255)] = None,
    overdue: bool | None = None,
) -> dict[str, Any]:
    filters = MilestoneFilter(
        project_id=project_id,
        status=status_,
        priority=priority,
        assigned_to=assigned_to,
        overdue_on=datetime.now(UTC).date() if overdue else None,
    )
    page = paging.page or 1
    views, total = await milestone_service.list_page(
        session, actor=user, filters=filters, limit=paging.page_size, offset=paging.offset
    )
    more = page * paging.page_size < total
    return {
        "count": total,
        "next": str(request.url.include_query_params(page=page + 1)) if more else None,
        "previous": str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
        "next_cursor": None,
        "results": [milestone_read(v) for v in views],
    }


@router.post(
    "/",
    summary="Create a milestone",
    status_code=status.HTTP_201_CREATED,
    description="Creates the milestone and its stream, and records MILESTONE_CREATED on it "
    "and on the project's stream. `depends_on` adds dependencies (same project, no cycles).",
    response_model=MilestoneRead,
    responses=ERRORS,
)
async def create(body: MilestoneCreate, session: Session, user: CurrentUser) -> MilestoneRead:
    view = unwrap(await milestone_service.create(session, actor=user, new=body), location="body")
    return milestone_read(view)


@router.get(
    "/my_milestones/",
    summary="Milestones assigned to you",
    response_model=MilestoneList,
    responses=problem_responses(401),
)
async def my_milestones(session: Session, user: CurrentUser) -> dict[str, Any]:
    views = await milestone_service.assigned(session, actor=user)
    results = [milestone_read(v) for v in views]
    return {"count": len(results), "next": None, "previous": None, "results": results}


@router.get(
    "/dashboard/",
    summary="Your milestone dashboard",
    response_model=MilestoneDashboardRead,
    responses=problem_responses(401),
)
async def dashboard(session: Session, user: CurrentUser) -> MilestoneDashboardRead:
    views = await milestone_service.assigned(session, actor=user)
    today = datetime.now(UTC).date()
    soon = today + timedelta(days=14)
    reads = [milestone_read(v) for v in views]
    return MilestoneDashboardRead(
        assigned_count=len(views),
        by_status=dict(Counter(v.milestone.status for v in views)),
        overdue_count=sum(v.is_overdue(today) for v in views),
        due_soon=[
            r
            for r in reads
            if r.status in ("planned", "in_progress", "on_hold")
            and r.planned_end_date is not None
            and today <= r.planned_end_date <= soon
        ],
        milestones=reads,
    )


ProjectQuery = Annotated[str, Query(min_length=1, max_length=255, description="The project.")]


@router.get(
    "/critical_path/",
    summary="A project's critical path",
    description="The critical path method over the dependency DAG: earliest/latest start "
    "and finish and total float per milestone, the critical chain and the projected end. "
    "Completed milestones keep their actual dates; in-progress ones finish at today plus "
    "their remaining share; negative float (the plan's deadline cannot be met) is `at_risk`.",
    response_model=CriticalPathRead,
    responses=problem_responses(401, 404, 422),
)
async def critical_path(
    project_id: ProjectQuery, session: Session, user: CurrentUser
) -> CriticalPathRead:
    _, result = unwrap(await milestone_service.schedule(session, actor=user, project_id=project_id))
    return CriticalPathRead(
        project_id=project_id,
        critical_path=result.critical_path,
        projected_end=result.projected_end,
        deadline=result.deadline,
        at_risk=result.at_risk,
        milestones=[ScheduledRead.model_validate(m) for m in result.milestones],
        unscheduled=result.unscheduled,
    )


@router.get(
    "/gantt/",
    summary="Gantt rows for a project",
    description="One row per milestone with projected dates, progress, dependencies and the "
    "critical flag, in schedule order, for a front end to draw.",
    response_model=GanttRead,
    responses=problem_responses(401, 404, 422),
)
async def gantt(project_id: ProjectQuery, session: Session, user: CurrentUser) -> GanttRead:
    views, result = unwrap(
        await milestone_service.schedule(session, actor=user, project_id=project_id)
    )
    scheduled = {m.id: m for m in result.milestones}
    rows = []
    for view in views:
        m, s = view.milestone, scheduled.get(view.milestone.id)
        rows.append(
            GanttRow(
                id=m.id,
                name=m.name,
                status=m.status,
                start=s.earliest_start if s else None,
                end=s.earliest_finish if s else None,
                planned_start=m.planned_start_date,
                planned_end=m.planned_end_date,
                progress=100 if m.status == "completed" else m.progress,
                depends_on=view.depends_on,
                critical=bool(s and s.critical),
                at_risk=bool(s and s.at_risk),
                assigned_to=m.assigned_to,
            )
        )
    return GanttRead(project_id=project_id, projected_end=result.projected_end, rows=rows)


@router.get(
    "/calendar.ics",
    summary="Milestones as an iCalendar feed",
    description="RFC 5545, one all-day event per scheduled milestone (planned dates), for "
    "calendar apps. Filter by `project_id` and/or `assigned_to`.",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **problem_responses(401, 422)},
)
async def calendar(
    session: Session,
    user: CurrentUser,
    project_id: Annotated[str | None, Query(max_length=255)] = None,
    assigned_to: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    rows = await milestone_service.calendar_entries(
        session, actor=user, project_id=project_id, assigned_to=assigned_to
    )
    body = render_calendar(rows, name=f"Milestones {project_id or ''}".strip())
    return Response(body, media_type="text/calendar; charset=utf-8")


def render_calendar(milestones: list[Milestone], *, name: str) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Tidings//Milestones//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    stamp = datetime.now(UTC)
    for m in milestones:
        start = m.planned_start_date or m.planned_end_date
        end = m.planned_end_date or m.planned_start_date
        if start is None or end is None:
            continue
        event = icalendar.Event()
        event.add("uid", f"{m.id}@tidings")
        event.add("dtstamp", stamp)
        event.add("summary", m.name)
        event.add("description", m.description or f"Project {m.project_id}, {m.status}")
        event.add("dtstart", start)
        event.add("dtend", end + timedelta(days=1))  # all-day DTEND is exclusive
        event.add("status", "CANCELLED" if m.status == "cancelled" else "CONFIRMED")
        event.add("categories", [m.project_id])
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body


@router.get(
    "/{id}/",
    summary="Get a milestone",
    response_model=MilestoneRead,
    responses=problem_responses(401, 404, 422),
)
async def get(milestone_id: MilestoneId, session: Session, user: CurrentUser) -> MilestoneRead:
    return milestone_read(
        unwrap(await milestone_service.get(session, actor=user, milestone_id=milestone_id))
    )


@router.patch(
    "/{id}/", summary="Update some fields", response_model=MilestoneRead, responses=ERRORS
)
async def patch(
    milestone_id: MilestoneId, body: MilestoneUpdate, session: Session, user: CurrentUser
) -> MilestoneRead:
    view = unwrap(
        await milestone_service.update(
            session, actor=user, milestone_id=milestone_id, changes=body
        ),
        location="body",
    )
    return milestone_read(view)


@router.put(
    "/{id}/",
    summary="Replace the editable fields",
    response_model=MilestoneRead,
    responses=ERRORS,
)
async def put(
    milestone_id: MilestoneId, body: MilestoneReplace, session: Session, user: CurrentUser
) -> MilestoneRead:
    view = unwrap(
        await milestone_service.update(
            session, actor=user, milestone_id=milestone_id, changes=body
        ),
        location="body",
    )
    return milestone_read(view)


@router.delete(
    "/{id}/",
    summary="Delete a milestone",
    status_code=status.HTTP_204_NO_CONTENT,
    description="The creator or an admin; refused (409) while other milestones depend on it.",
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409),
)
async def delete(milestone_id: MilestoneId, session: Session, user: CurrentUser) -> Response:
    unwrap(await milestone_service.delete(session, actor=user, milestone_id=milestone_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{id}/start/",
    summary="Start a milestone",
    response_model=MilestoneRead,
    description="Refused (409, `blockers` listed) while a dependency is not completed.",
    responses=ERRORS,
)
async def start(milestone_id: MilestoneId, session: Session, user: CurrentUser) -> MilestoneRead:
    return milestone_read(
        unwrap(await milestone_service.start(session, actor=user, milestone_id=milestone_id))
    )


@router.post(
    "/{id}/complete/",
    summary="Complete a milestone",
    response_model=MilestoneRead,
    responses=ERRORS,
)
async def complete(milestone_id: MilestoneId, session: Session, user: CurrentUser) -> MilestoneRead:
    return milestone_read(
        unwrap(await milestone_service.complete(session, actor=user, milestone_id=milestone_id))
    )


@router.post(
    "/{id}/update_progress/",
    summary="Update progress (0-100)",
    response_model=MilestoneRead,
    responses=ERRORS,
)
async def update_progress(
    milestone_id: MilestoneId, body: ProgressBody, session: Session, user: CurrentUser
) -> MilestoneRead:
    view = unwrap(
        await milestone_service.update_progress(
            session, actor=user, milestone_id=milestone_id, progress=body.progress
        )
    )
    return milestone_read(view)


@router.get(
    "/{id}/timeline/",
    summary="The milestone's project timeline",
    description="Milestones in schedule order, counts per status, progress weighted by "
    "planned duration, budget against actual cost, overdue count.",
    response_model=ProjectTimelineRead,
    responses=problem_responses(401, 404, 422),
)
async def project_timeline(
    milestone_id: MilestoneId, session: Session, user: CurrentUser
) -> ProjectTimelineRead:
    result = unwrap(
        await milestone_service.project_timeline(session, actor=user, milestone_id=milestone_id)
    )
    return ProjectTimelineRead(
        project_id=result.project_id,
        milestones=[milestone_read(v) for v in result.milestones],
        statistics=result.statistics,
        overall_progress=result.overall_progress,
        budget_total=result.budget_total,
        actual_cost_total=result.actual_cost_total,
        variance_total=result.budget_total - result.actual_cost_total,
        overdue_count=result.overdue_count,
    )


@router.post(
    "/{id}/dependencies/",
    summary="Add a dependency",
    description="This milestone waits for `depends_on`. A dependency that would close a "
    "cycle is 409 with the cycle in `cycle`; one in another project is 422.",
    response_model=MilestoneRead,
    responses=ERRORS,
)
async def add_dependency(
    milestone_id: MilestoneId, body: DependencyBody, session: Session, user: CurrentUser
) -> MilestoneRead:
    view = unwrap(
        await milestone_service.add_dependency(
            session, actor=user, milestone_id=milestone_id, depends_on=body.depends_on
        ),
        location="body",
    )
    return milestone_read(view)


@router.delete(
    "/{id}/dependencies/",
    summary="Remove a dependency",
    response_model=MilestoneRead,
    responses=ERRORS,
)
async def remove_dependency(
    milestone_id: MilestoneId,
    session: Session,
    user: CurrentUser,
    depends_on: Annotated[uuid.UUID, Query(description="The dependency to remove.")],
) -> MilestoneRead:
    view = unwrap(
        await milestone_service.remove_dependency(
            session, actor=user, milestone_id=milestone_id, depends_on=depends_on
        )
    )
    return milestone_read(view)


@router.get(
    "/{id}/comments/",
    summary="Comments, threaded",
    response_model=list[CommentRead],
    responses=problem_responses(401, 404, 422),
)
async def comments(
    milestone_id: MilestoneId, session: Session, user: CurrentUser
) -> list[CommentRead]:
    found = unwrap(await milestone_service.comments(session, actor=user, milestone_id=milestone_id))
    return threaded(found)


@router.post(
    "/{id}/add_comment/",
    summary="Add a comment (or a reply with `parent`)",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentRead,
    responses=ERRORS,
)
async def add_comment(
    milestone_id: MilestoneId, body: CommentCreate, session: Session, user: CurrentUser
) -> CommentRead:
    comment = unwrap(
        await milestone_service.add_comment(
            session, actor=user, milestone_id=milestone_id, new=body
        ),
        location="body",
    )
    return threaded([comment])[0]


@router.patch(
    "/{id}/comments/{comment_id}/",
    summary="Edit your comment",
    response_model=CommentRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def edit_comment(
    milestone_id: MilestoneId,
    comment_id: uuid.UUID,
    body: CommentUpdate,
    session: Session,
    user: CurrentUser,
) -> CommentRead:
    comment = unwrap(
        await milestone_service.edit_comment(
            session,
            actor=user,
            milestone_id=milestone_id,
            comment_id=comment_id,
            content=body.content,
        )
    )
    return threaded([comment])[0]
