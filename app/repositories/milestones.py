"""Milestones, their dependency edges and comments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.models import Milestone, MilestoneComment, MilestoneDependency
from app.repositories.base import Repository

# Every milestone reachable from :start by following "depends on" edges, with the path
# that reaches it: adding "a depends on b" closes a cycle exactly when a is reachable
# from b, and the path names the cycle.
_REACHABLE = text(
    """
WITH RECURSIVE walk(id, path) AS (
    SELECT CAST(:start AS uuid), ARRAY[CAST(:start AS uuid)]
    UNION ALL
    SELECT d.depends_on_id, walk.path || d.depends_on_id
      FROM walk JOIN milestone_dependencies d
        ON d.tenant_id = :tenant_id AND d.milestone_id = walk.id
     WHERE NOT d.depends_on_id = ANY(walk.path)
)
SELECT path FROM walk WHERE id = CAST(:target AS uuid) LIMIT 1
"""
)


_NEWLY_OVERDUE = text(
    """
SELECT m.id FROM milestones m JOIN tenants t ON t.id = m.tenant_id
 WHERE m.overdue_since IS NULL
   AND m.status IN ('planned', 'in_progress', 'on_hold')
   AND m.planned_end_date < CAST(timezone(t.time_zone, CAST(:now AS timestamptz)) AS date)
 ORDER BY m.id
 LIMIT :limit
   FOR UPDATE OF m SKIP LOCKED
"""
)


@dataclass(frozen=True, slots=True)
class MilestoneFilter:
    project_id: str | None = None
    status: str | None = None
    priority: str | None = None
    assigned_to: str | None = None
    overdue_on: date | None = None  # overdue as of this date


class MilestoneRepository(Repository):
    async def get(
        self, tenant_id: str, milestone_id: uuid.UUID, *, lock: bool = False
    ) -> Milestone | None:
        stmt = select(Milestone).where(
            Milestone.tenant_id == tenant_id, Milestone.id == milestone_id
        )
        if lock:
            # NO KEY UPDATE: a dependency insert's foreign-key check (KEY SHARE) on this
            # row still goes through.
            stmt = stmt.with_for_update(key_share=True)
        return await self.session.scalar(stmt)

    async def add(self, values: dict[str, Any]) -> Milestone:
        milestone = Milestone(**values)
        self.session.add(milestone)
        await self.session.flush()
        await self.session.refresh(milestone)
        return milestone

    async def page(
        self, tenant_id: str, f: MilestoneFilter, *, limit: int, offset: int
    ) -> tuple[list[Milestone], int]:
        conditions: list[Any] = [Milestone.tenant_id == tenant_id]
        if f.project_id is not None:
            conditions.append(Milestone.project_id == f.project_id)
        if f.status is not None:
            conditions.append(Milestone.status == f.status)
        if f.priority is not None:
            conditions.append(Milestone.priority == f.priority)
        if f.assigned_to is not None:
            conditions.append(Milestone.assigned_to == f.assigned_to)
        if f.overdue_on is not None:
            conditions.append(
                and_(
                    Milestone.planned_end_date < f.overdue_on,
                    Milestone.status.not_in(("completed", "cancelled")),
                )
            )
        stmt = (
            select(Milestone)
            .where(*conditions)
            .order_by(
                Milestone.planned_start_date.asc().nulls_last(),
                Milestone.planned_end_date.asc().nulls_last(),
                Milestone.created_at,
                Milestone.id,
            )
            .limit(limit)
            .offset(offset)
        )
        rows = list(await self.session.scalars(stmt))
        total = await self.session.scalar(
            select(func.count()).select_from(Milestone).where(*conditions)
        )
        return rows, int(total or 0)

    async def project(self, tenant_id: str, project_id: str) -> list[Milestone]:
        rows, _ = await self.page(
            tenant_id, MilestoneFilter(project_id=project_id), limit=10_000, offset=0
        )
        return rows

    async def delete(self, milestone: Milestone) -> None:
        await self.session.delete(milestone)
        await self.session.flush()

    async def lock_project(self, tenant_id: str, project_id: str) -> None:
        """Serializes dependency changes within one project (for the cycle check)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"milestone-deps:{tenant_id}:{project_id}"},
        )

    async def path(
        self, tenant_id: str, start: uuid.UUID, target: uuid.UUID
    ) -> list[uuid.UUID] | None:
        """A dependency path start -> ... -> target, or None."""
        found = await self.session.scalar(
            _REACHABLE, {"tenant_id": tenant_id, "start": start, "target": target}
        )
        return list(found) if found is not None else None

    async def add_dependency(
        self, tenant_id: str, milestone_id: uuid.UUID, depends_on: uuid.UUID
    ) -> bool:
        result = await self.session.execute(
            pg_insert(MilestoneDependency)
            .values(tenant_id=tenant_id, milestone_id=milestone_id, depends_on_id=depends_on)
            .on_conflict_do_nothing()
            .returning(MilestoneDependency.milestone_id)
        )
        return result.first() is not None

    async def remove_dependency(
        self, tenant_id: str, milestone_id: uuid.UUID, depends_on: uuid.UUID
    ) -> bool:
        result = await self.session.execute(
            delete(MilestoneDependency)
            .where(
                MilestoneDependency.tenant_id == tenant_id,
                MilestoneDependency.milestone_id == milestone_id,
                MilestoneDependency.depends_on_id == depends_on,
            )
            .returning(MilestoneDependency.milestone_id)
        )
        return result.first() is not None

    async def dependencies(
        self, tenant_id: str, milestone_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[uuid.UUID]]:
        """milestone -> the milestones it depends on."""
        if not milestone_ids:
            return {}
        result = await self.session.execute(
            select(MilestoneDependency.milestone_id, MilestoneDependency.depends_on_id).where(
                MilestoneDependency.tenant_id == tenant_id,
                MilestoneDependency.milestone_id.in_(list(milestone_ids)),
            )
        )
        found: dict[uuid.UUID, list[uuid.UUID]] = {}
        for milestone_id, depends_on in result:
            found.setdefault(milestone_id, []).append(depends_on)
        return found

    async def blockers(self, tenant_id: str, milestone_id: uuid.UUID) -> list[Milestone]:
        """The milestone's dependencies that are not completed."""
        result = await self.session.scalars(
            select(Milestone)
            .join(
                MilestoneDependency,
                and_(
                    MilestoneDependency.tenant_id == Milestone.tenant_id,
                    MilestoneDependency.depends_on_id == Milestone.id,
                ),
            )
            .where(
                MilestoneDependency.tenant_id == tenant_id,
                MilestoneDependency.milestone_id == milestone_id,
                Milestone.status != "completed",
            )
            .order_by(Milestone.name)
        )
        return list(result)

    async def newly_overdue(self, now: datetime, limit: int) -> list[Milestone]:
        """Open milestones past their planned end in their tenant's time zone and not yet
        marked, locked (SKIP LOCKED: two workers share the work without doing it twice)."""
        ids = list(await self.session.scalars(_NEWLY_OVERDUE, {"now": now, "limit": limit}))
        if not ids:
            return []
        return list(await self.session.scalars(select(Milestone).where(Milestone.id.in_(ids))))

    async def dependents(self, tenant_id: str, milestone_id: uuid.UUID) -> list[Milestone]:
        """The milestones that depend on this one."""
        result = await self.session.scalars(
            select(Milestone)
            .join(
                MilestoneDependency,
                and_(
                    MilestoneDependency.tenant_id == Milestone.tenant_id,
                    MilestoneDependency.milestone_id == Milestone.id,
                ),
            )
            .where(
                MilestoneDependency.tenant_id == tenant_id,
                MilestoneDependency.depends_on_id == milestone_id,
            )
            .order_by(Milestone.name)
        )
        return list(result)

    async def comments(self, tenant_id: str, milestone_id: uuid.UUID) -> list[MilestoneComment]:
        result = await self.session.scalars(
            select(MilestoneComment)
            .where(
                MilestoneComment.tenant_id == tenant_id,
                MilestoneComment.milestone_id == milestone_id,
            )
            .order_by(MilestoneComment.created_at, MilestoneComment.id)
        )
        return list(result)

    async def comment(self, tenant_id: str, comment_id: uuid.UUID) -> MilestoneComment | None:
        return await self.session.scalar(
            select(MilestoneComment).where(
                MilestoneComment.tenant_id == tenant_id, MilestoneComment.id == comment_id
            )
        )

    async def add_comment(self, values: dict[str, Any]) -> MilestoneComment:
        comment = MilestoneComment(**values)
        self.session.add(comment)
        await self.session.flush()
        await self.session.refresh(comment)
        return comment
