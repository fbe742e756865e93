"""Milestones (seed 000): lifecycle, dependencies, comments, project timelines.

Every change is recorded as an event on the milestone's own stream and on its project's
stream, so timelines, feeds and the live layer see milestones with no extra code.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.enums import StreamType
from app.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed
from app.ids import new_id
from app.models import Milestone, MilestoneComment
from app.repositories.milestones import MilestoneFilter, MilestoneRepository
from app.repositories.streams import StreamRepository
from app.repositories.users import UserRepository
from app.result import Err, Ok, Result
from app.schemas.events import EventFields
from app.schemas.milestones import (
    CommentCreate,
    MilestoneCreate,
    MilestoneReplace,
    MilestoneUpdate,
)
from app.services.events import ObjectTarget, event_service
from app.services.schedule import CriticalPath, Task, critical_path
from app.services.streams import stream_service

OPEN = ("planned", "in_progress", "on_hold")
SYSTEM_USER = "tidings-system"
# action -> the statuses it may start from
ALLOWED: dict[str, tuple[str, ...]] = {
    "start": ("planned", "on_hold"),
    "complete": ("planned", "in_progress", "on_hold"),
    "progress": ("planned", "in_progress", "on_hold"),
    "on_hold": ("planned", "in_progress"),
    "cancelled": ("planned", "in_progress", "on_hold"),
    "planned": ("on_hold",),
    "edit": OPEN,
}


@dataclass(frozen=True, slots=True)
class MilestoneView:
    milestone: Milestone
    stream_slug: str
    depends_on: list[uuid.UUID]

    @property
    def variance(self) -> Decimal | None:
        m = self.milestone
        return (
            m.budget - m.actual_cost if m.budget is not None and m.actual_cost is not None else None
        )

    def is_overdue(self, today: date) -> bool:
        m = self.milestone
        return m.planned_end_date is not None and m.planned_end_date < today and m.status in OPEN


@dataclass(frozen=True, slots=True)
class ProjectTimeline:
    project_id: str
    milestones: list[MilestoneView]
    statistics: dict[str, int]
    overall_progress: float
    budget_total: Decimal
    actual_cost_total: Decimal
    overdue_count: int


ACTION_WORDS = {"progress": "update the progress of", "edit": "edit", "planned": "re-plan"}


def _refuse(milestone: Milestone, action: str) -> InvalidState:
    words = ACTION_WORDS.get(action, action.replace("_", " "))
    return InvalidState(
        f"cannot {words} a milestone that is {milestone.status}",
        {"status": milestone.status, "action": action},
    )


def weighted_progress(milestones: list[Milestone]) -> float:
    """Overall progress, each milestone weighted by its planned duration in days
    (a milestone without both dates weighs one day)."""
    total = weight_sum = 0.0
    for m in milestones:
        if m.status == "cancelled":
            continue
        weight = 1.0
        if m.planned_start_date and m.planned_end_date:
            weight = float((m.planned_end_date - m.planned_start_date).days + 1)
        total += weight * (100 if m.status == "completed" else m.progress)
        weight_sum += weight
    return round(total / weight_sum, 2) if weight_sum else 0.0


class MilestoneService:
    async def _view(self, session: AsyncSession, milestone: Milestone) -> MilestoneView:
        repo = MilestoneRepository(session)
        deps = await repo.dependencies(milestone.tenant_id, [milestone.id])
        stream = await StreamRepository(session).get(milestone.tenant_id, milestone.stream_id)
        return MilestoneView(milestone, stream.slug if stream else "", deps.get(milestone.id, []))

    async def views(
        self, session: AsyncSession, milestones: list[Milestone]
    ) -> list[MilestoneView]:
        if not milestones:
            return []
        tenant_id = milestones[0].tenant_id
        deps = await MilestoneRepository(session).dependencies(
            tenant_id, [m.id for m in milestones]
        )
        slugs = await StreamRepository(session).slugs(tenant_id, [m.stream_id for m in milestones])
        return [
            MilestoneView(m, slugs.get(m.stream_id, ""), deps.get(m.id, [])) for m in milestones
        ]

    async def _emit(
        self,
        session: AsyncSession,
        actor: Principal,
        milestone: Milestone,
        event_type: str,
        extra: dict[str, Any] | None = None,
        *,
        system_generated: bool = False,
    ) -> None:
        """One event on the milestone's stream and one on its project's stream."""
        fields = EventFields.model_validate(
            {
                "event_type": event_type,
                "is_system_generated": system_generated,
                "data": {
                    "milestone_id": str(milestone.id),
                    "name": milestone.name,
                    "progress": milestone.progress,
                    "project_id": milestone.project_id,
                    **(extra or {}),
                },
            }
        )
        targets = [
            ObjectTarget("milestone", str(milestone.id), StreamType.milestone),
            ObjectTarget("project", milestone.project_id, StreamType.project),
        ]
        recorded = await event_service.record_batch(
            session, actor=actor, items=[(t, fields) for t in targets]
        )
        if isinstance(recorded, Err):  # pragma: no cover - built-in type, valid data
            raise RuntimeError(f"milestone event refused: {recorded.error}")

    async def get(
        self, session: AsyncSession, *, actor: Principal, milestone_id: uuid.UUID
    ) -> Result[MilestoneView, NotFound]:
        milestone = await MilestoneRepository(session).get(actor.tenant_id, milestone_id)
        if milestone is None:
            return Err(NotFound(f"milestone {milestone_id} not found", {"id": str(milestone_id)}))
        return Ok(await self._view(session, milestone))

    async def list_page(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        filters: MilestoneFilter,
        limit: int,
        offset: int,
    ) -> tuple[list[MilestoneView], int]:
        rows, total = await MilestoneRepository(session).page(
            actor.tenant_id, filters, limit=limit, offset=offset
        )
        return await self.views(session, rows), total

    async def _known_user(
        self, session: AsyncSession, actor: Principal, user_id: str | None
    ) -> ValidationFailed | None:
        if user_id is None:
            return None
        known = await UserRepository(session).get_many(actor.tenant_id, [user_id])
        if user_id not in known:
            return ValidationFailed.at(("assigned_to",), f"unknown user {user_id!r}")
        return None

    async def create(
        self, session: AsyncSession, *, actor: Principal, new: MilestoneCreate
    ) -> Result[MilestoneView, NotFound | ValidationFailed | Conflict]:
        unknown = await self._known_user(session, actor, new.assigned_to)
        if unknown:
            return Err(unknown)
        milestone_id = new_id()
        stream = await stream_service.get_or_create_for_object(
            session,
            actor=actor,
            object_type="milestone",
            object_id=str(milestone_id),
            stream_type=StreamType.milestone,
            name=f"Milestone: {new.name}",
        )
        repo = MilestoneRepository(session)
        milestone = await repo.add(
            {
                "id": milestone_id,
                "tenant_id": actor.tenant_id,
                "project_id": new.project_id,
                "stream_id": stream.id,
                "name": new.name,
                "description": new.description,
                "priority": new.priority,
                "planned_start_date": new.planned_start_date,
                "planned_end_date": new.planned_end_date,
                "budget": new.budget,
                "actual_cost": new.actual_cost,
                "assigned_to": new.assigned_to,
                "created_by": actor.user_id,
            }
        )
        if new.depends_on:
            await repo.lock_project(actor.tenant_id, new.project_id)
        for depends_on in new.depends_on:
            added = await self._depend(session, actor, milestone, depends_on)
            if isinstance(added, Err):
                return added
        await self._emit(session, actor, milestone, "milestone_created")
        return Ok(await self._view(session, milestone))

    async def _locked(
        self, session: AsyncSession, actor: Principal, milestone_id: uuid.UUID
    ) -> Result[Milestone, NotFound]:
        milestone = await MilestoneRepository(session).get(actor.tenant_id, milestone_id, lock=True)
        if milestone is None:
            return Err(NotFound(f"milestone {milestone_id} not found", {"id": str(milestone_id)}))
        return Ok(milestone)

    async def update(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        milestone_id: uuid.UUID,
        changes: MilestoneUpdate | MilestoneReplace,
    ) -> Result[MilestoneView, NotFound | InvalidState | ValidationFailed]:
        found = await self._locked(session, actor, milestone_id)
        if isinstance(found, Err):
            return found
        milestone = found.data
        if changes.assigned_to is not None and changes.assigned_to != milestone.assigned_to:
            unknown = await self._known_user(session, actor, changes.assigned_to)
            if unknown:
                return Err(unknown)
        fields = (
            changes.model_fields_set
            if isinstance(changes, MilestoneUpdate)
            else set(MilestoneReplace.model_fields)
        )
        status = getattr(changes, "status", None) if "status" in fields else None
        if status is not None and status != milestone.status:
            if status in ("in_progress", "completed"):
                action = "start" if status == "in_progress" else "complete"
                return Err(ValidationFailed.at(("status",), f"use the {action} action"))
            if milestone.status not in ALLOWED[status]:
                return Err(_refuse(milestone, status))
        elif milestone.status not in OPEN:
            return Err(_refuse(milestone, "edit"))
        start = (
            changes.planned_start_date
            if "planned_start_date" in fields
            else milestone.planned_start_date
        )
        end = (
            changes.planned_end_date if "planned_end_date" in fields else milestone.planned_end_date
        )
        if start is not None and end is not None and end < start:
            return Err(
                ValidationFailed.at(
                    ("planned_end_date",), "planned_end_date is before planned_start_date"
                )
            )
        for name in fields - {"status"}:
            setattr(milestone, name, getattr(changes, name))
        if status is not None:
            milestone.status = status
        milestone.updated_at = datetime.now(UTC)
        await session.flush()
        event = {"on_hold": "milestone_on_hold", "cancelled": "milestone_cancelled"}.get(
            status or "", "milestone_updated"
        )
        await self._emit(session, actor, milestone, event, {"changed_fields": sorted(fields)})
        return Ok(await self._view(session, milestone))

    async def _act(
        self,
        session: AsyncSession,
        actor: Principal,
        milestone_id: uuid.UUID,
        action: str,
        event_type: str,
        apply: Callable[[Milestone], None],
        *,
        needs_dependencies: bool = False,
    ) -> Result[MilestoneView, NotFound | InvalidState]:
        """A lifecycle action: lock the row, check the transition (and that the
        dependencies are completed, for start and complete), apply, record the event."""
        found = await self._locked(session, actor, milestone_id)
        if isinstance(found, Err):
            return found
        milestone = found.data
        if milestone.status not in ALLOWED[action]:
            return Err(_refuse(milestone, action))
        if needs_dependencies:
            blockers = await MilestoneRepository(session).blockers(actor.tenant_id, milestone.id)
            if blockers:
                return Err(
                    InvalidState(
                        "blocked by dependencies that are not completed: "
                        + ", ".join(b.name for b in blockers),
                        {
                            "blockers": [
                                {"id": str(b.id), "name": b.name, "status": b.status}
                                for b in blockers
                            ]
                        },
                    )
                )
        apply(milestone)
        milestone.updated_at = datetime.now(UTC)
        await session.flush()
        await self._emit(session, actor, milestone, event_type)
        return Ok(await self._view(session, milestone))

    async def start(
        self, session: AsyncSession, *, actor: Principal, milestone_id: uuid.UUID
    ) -> Result[MilestoneView, NotFound | InvalidState]:
        def begin(m: Milestone) -> None:
            m.status = "in_progress"
            m.actual_start_date = m.actual_start_date or datetime.now(UTC).date()

        return await self._act(
            session,
            actor,
            milestone_id,
            "start",
            "milestone_started",
            begin,
            needs_dependencies=True,
        )

    async def complete(
        self, session: AsyncSession, *, actor: Principal, milestone_id: uuid.UUID
    ) -> Result[MilestoneView, NotFound | InvalidState]:
        def finish(m: Milestone) -> None:
            today = datetime.now(UTC).date()
            m.status, m.progress = "completed", 100
            m.actual_start_date = m.actual_start_date or today
            m.actual_end_date = today

        return await self._act(
            session,
            actor,
            milestone_id,
            "complete",
            "milestone_completed",
            finish,
            needs_dependencies=True,
        )

    async def update_progress(
        self, session: AsyncSession, *, actor: Principal, milestone_id: uuid.UUID, progress: int
    ) -> Result[MilestoneView, NotFound | InvalidState]:
        def advance(m: Milestone) -> None:
            m.progress = progress

        return await self._act(
            session, actor, milestone_id, "progress", "milestone_progress_updated", advance
        )

    async def delete(
        self, session: AsyncSession, *, actor: Principal, milestone_id: uuid.UUID
    ) -> Result[None, NotFound | Forbidden | Conflict]:
        """Only the creator or an admin deletes; a milestone others depend on stays."""
        found = await self._locked(session, actor, milestone_id)
        if isinstance(found, Err):
            return found
        milestone = found.data
        if not actor.is_admin and milestone.created_by != actor.user_id:
            return Err(Forbidden("only the creator (or an admin) may delete a milestone"))
        repo = MilestoneRepository(session)
        dependents = await repo.dependents(actor.tenant_id, milestone.id)
        if dependents:
            return Err(
                Conflict(
                    "other milestones depend on this one",
                    {"dependents": [{"id": str(d.id), "name": d.name} for d in dependents]},
                )
            )
        await self._emit(session, actor, milestone, "milestone_deleted")
        await repo.delete(milestone)
        return Ok(None)

    async def _depend(
        self, session: AsyncSession, actor: Principal, milestone: Milestone, depends_on: uuid.UUID
    ) -> Result[bool, NotFound | ValidationFailed | Conflict]:
        """Adds an edge; the caller holds the project's dependency lock, so two additions
        that each look acyclic cannot together close a cycle."""
        repo = MilestoneRepository(session)
        target = await repo.get(actor.tenant_id, depends_on)
        if target is None:
            return Err(
                NotFound(f"milestone {depends_on} not found", {"depends_on": str(depends_on)})
            )
        if target.project_id != milestone.project_id:
            return Err(
                ValidationFailed.at(("depends_on",), "a dependency must be in the same project")
            )
        if target.id == milestone.id:
            return Err(
                Conflict("a milestone cannot depend on itself", {"cycle": [str(milestone.id)] * 2})
            )
        path = await repo.path(actor.tenant_id, target.id, milestone.id)
        if path is not None:
            cycle = [str(milestone.id), *(str(p) for p in path)]
            return Err(Conflict("this dependency would close a cycle", {"cycle": cycle}))
        return Ok(await repo.add_dependency(actor.tenant_id, milestone.id, target.id))

    async def add_dependency(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        milestone_id: uuid.UUID,
        depends_on: uuid.UUID,
    ) -> Result[MilestoneView, NotFound | ValidationFailed | Conflict]:
        # The project's lock first, row locks after: the same order everywhere.
        repo = MilestoneRepository(session)
        milestone = await repo.get(actor.tenant_id, milestone_id)
        if milestone is None:
            return Err(NotFound(f"milestone {milestone_id} not found", {"id": str(milestone_id)}))
        await repo.lock_project(actor.tenant_id, milestone.project_id)
        found = await self._locked(session, actor, milestone_id)
        if isinstance(found, Err):
            return found
        added = await self._depend(session, actor, found.data, depends_on)
        if isinstance(added, Err):
            return added
        if added.data:
            await self._emit(
                session,
                actor,
                found.data,
                "milestone_dependency_added",
                {"depends_on": str(depends_on)},
            )
        return Ok(await self._view(session, found.data))

    async def remove_dependency(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        milestone_id: uuid.UUID,
        depends_on: uuid.UUID,
    ) -> Result[MilestoneView, NotFound]:
        found = await self._locked(session, actor, milestone_id)
        if isinstance(found, Err):
            return found
        removed = await MilestoneRepository(session).remove_dependency(
            actor.tenant_id, milestone_id, depends_on
        )
        if not removed:
            return Err(NotFound("no such dependency", {"depends_on": str(depends_on)}))
        await self._emit(
            session,
            actor,
            found.data,
            "milestone_dependency_removed",
            {"depends_on": str(depends_on)},
        )
        return Ok(await self._view(session, found.data))

    async def project_timeline(
        self, session: AsyncSession, *, actor: Principal, milestone_id: uuid.UUID
    ) -> Result[ProjectTimeline, NotFound]:
        """The project of `milestone_id`: its milestones in schedule order and totals."""
        milestone = await MilestoneRepository(session).get(actor.tenant_id, milestone_id)
        if milestone is None:
            return Err(NotFound(f"milestone {milestone_id} not found", {"id": str(milestone_id)}))
        rows = await MilestoneRepository(session).project(actor.tenant_id, milestone.project_id)
        views = await self.views(session, rows)
        today = datetime.now(UTC).date()
        return Ok(
            ProjectTimeline(
                project_id=milestone.project_id,
                milestones=views,
                statistics=dict(Counter(m.status for m in rows)),
                overall_progress=weighted_progress(rows),
                budget_total=sum((m.budget or Decimal(0) for m in rows), Decimal(0)),
                actual_cost_total=sum((m.actual_cost or Decimal(0) for m in rows), Decimal(0)),
                overdue_count=sum(v.is_overdue(today) for v in views),
            )
        )

    async def schedule(
        self, session: AsyncSession, *, actor: Principal, project_id: str
    ) -> Result[tuple[list[MilestoneView], CriticalPath], NotFound]:
        """The project's milestones and their critical-path schedule (as of today, UTC)."""
        rows = await MilestoneRepository(session).project(actor.tenant_id, project_id)
        if not rows:
            return Err(
                NotFound(f"project {project_id!r} has no milestones", {"project_id": project_id})
            )
        views = await self.views(session, rows)
        tasks = [
            Task(
                id=m.id,
                name=m.name,
                status=m.status,
                planned_start=m.planned_start_date,
                planned_end=m.planned_end_date,
                actual_start=m.actual_start_date,
                actual_end=m.actual_end_date,
                progress=m.progress,
            )
            for m in rows
        ]
        deps = {v.milestone.id: v.depends_on for v in views}
        return Ok((views, critical_path(tasks, deps, datetime.now(UTC).date())))

    async def calendar_entries(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        project_id: str | None,
        assigned_to: str | None,
    ) -> list[Milestone]:
        rows, _ = await MilestoneRepository(session).page(
            actor.tenant_id,
            MilestoneFilter(project_id=project_id, assigned_to=assigned_to),
            limit=5000,
            offset=0,
        )
        return rows

    async def mark_overdue(self, session: AsyncSession, *, now: datetime, limit: int = 200) -> int:
        """Marks up to `limit` newly overdue milestones (past their planned end in their
        tenant's time zone, not completed or cancelled) and records one MILESTONE_OVERDUE
        each, as a system event; a marked milestone is never announced again."""
        overdue = await MilestoneRepository(session).newly_overdue(now, limit)
        for milestone in overdue:
            milestone.overdue_since = now
            system = Principal(milestone.tenant_id, SYSTEM_USER, frozenset({"service"}))
            await self._emit(
                session,
                system,
                milestone,
                "milestone_overdue",
                {"planned_end_date": str(milestone.planned_end_date)},
                system_generated=True,
            )
        await session.flush()
        return len(overdue)

    async def assigned(self, session: AsyncSession, *, actor: Principal) -> list[MilestoneView]:
        rows, _ = await MilestoneRepository(session).page(
            actor.tenant_id, MilestoneFilter(assigned_to=actor.user_id), limit=500, offset=0
        )
        return await self.views(session, rows)

    async def comments(
        self, session: AsyncSession, *, actor: Principal, milestone_id: uuid.UUID
    ) -> Result[list[MilestoneComment], NotFound]:
        repo = MilestoneRepository(session)
        if await repo.get(actor.tenant_id, milestone_id) is None:
            return Err(NotFound(f"milestone {milestone_id} not found", {"id": str(milestone_id)}))
        return Ok(await repo.comments(actor.tenant_id, milestone_id))

    async def add_comment(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        milestone_id: uuid.UUID,
        new: CommentCreate,
    ) -> Result[MilestoneComment, NotFound | ValidationFailed]:
        repo = MilestoneRepository(session)
        milestone = await repo.get(actor.tenant_id, milestone_id)
        if milestone is None:
            return Err(NotFound(f"milestone {milestone_id} not found", {"id": str(milestone_id)}))
        if new.parent is not None:
            parent = await repo.comment(actor.tenant_id, new.parent)
            if parent is None or parent.milestone_id != milestone.id:
                return Err(ValidationFailed.at(("parent",), "no such comment on this milestone"))
        comment = await repo.add_comment(
            {
                "id": new_id(),
                "tenant_id": actor.tenant_id,
                "milestone_id": milestone.id,
                "parent_id": new.parent,
                "author_id": actor.user_id,
                "content": new.content,
            }
        )
        await self._emit(
            session, actor, milestone, "milestone_comment_added", {"comment_id": str(comment.id)}
        )
        return Ok(comment)

    async def edit_comment(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        milestone_id: uuid.UUID,
        comment_id: uuid.UUID,
        content: str,
    ) -> Result[MilestoneComment, NotFound | Forbidden]:
        comment = await MilestoneRepository(session).comment(actor.tenant_id, comment_id)
        if comment is None or comment.milestone_id != milestone_id:
            return Err(NotFound(f"comment {comment_id} not found"))
        if comment.author_id != actor.user_id and not actor.is_admin:
            return Err(Forbidden("only the author may edit a comment"))
        comment.content = content
        comment.is_edited = True
        comment.edited_at = datetime.now(UTC)
        await session.flush()
        return Ok(comment)


milestone_service = MilestoneService()
