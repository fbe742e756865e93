"""Seed 000's milestones: bodies and responses."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from app.schemas.common import InputSchema, Schema, Text
from app.schemas.events import UserRef


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


MilestoneStatus = Annotated[
    Literal["planned", "in_progress", "completed", "on_hold", "cancelled"], BeforeValidator(_lower)
]
MilestonePriority = Annotated[Literal["low", "medium", "high", "critical"], BeforeValidator(_lower)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Name = Annotated[Text, StringConstraints(min_length=1, max_length=300)]
ProjectId = Annotated[Text, StringConstraints(min_length=1, max_length=255)]


class _Schedule(InputSchema):
    @model_validator(mode="after")
    def _end_after_start(self) -> _Schedule:
        start = getattr(self, "planned_start_date", None)
        end = getattr(self, "planned_end_date", None)
        if start is not None and end is not None and end < start:
            raise ValueError("planned_end_date is before planned_start_date")
        return self


class MilestoneCreate(_Schedule):
    project_id: ProjectId
    name: Name
    description: Annotated[Text, StringConstraints(max_length=20_000)] = ""
    priority: MilestonePriority = "medium"
    planned_start_date: date | None = None
    planned_end_date: date | None = None
    budget: Money | None = None
    actual_cost: Money | None = None
    assigned_to: UserRef | None = None
    depends_on: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "project_id": "42",
                    "name": "Foundation Phase",
                    "priority": "HIGH",
                    "planned_start_date": "2026-03-01",
                    "planned_end_date": "2026-04-15",
                    "budget": "50000.00",
                    "assigned_to": "user-7",
                }
            ]
        }
    )


class MilestoneUpdate(_Schedule):
    """PATCH: only the fields sent change. `status` moves through the same transitions
    as the actions (e.g. `on_hold`, `cancelled`)."""

    name: Name | None = None
    description: Annotated[Text, StringConstraints(max_length=20_000)] | None = None
    status: MilestoneStatus | None = None
    priority: MilestonePriority | None = None
    planned_start_date: date | None = None
    planned_end_date: date | None = None
    budget: Money | None = None
    actual_cost: Money | None = None
    assigned_to: UserRef | None = None


class MilestoneReplace(_Schedule):
    """PUT: every editable field (the project cannot change)."""

    name: Name
    description: Annotated[Text, StringConstraints(max_length=20_000)] = ""
    priority: MilestonePriority = "medium"
    planned_start_date: date | None = None
    planned_end_date: date | None = None
    budget: Money | None = None
    actual_cost: Money | None = None
    assigned_to: UserRef | None = None


class ProgressBody(InputSchema):
    progress: int = Field(ge=0, le=100, examples=[50])


class DependencyBody(InputSchema):
    depends_on: uuid.UUID = Field(
        description="The milestone this one waits for.",
        examples=["01a2024e-a77d-779f-98f7-693916412419"],
    )


class MilestoneRead(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01a2024e-a77d-779f-98f7-693916412419",
                    "project_id": "42",
                    "stream": "milestone-01a2024e-a77d-779f-98f7-693916412419",
                    "name": "Foundation Phase",
                    "description": "",
                    "status": "in_progress",
                    "priority": "high",
                    "planned_start_date": "2026-03-01",
                    "planned_end_date": "2026-04-15",
                    "actual_start_date": "2026-03-02",
                    "actual_end_date": None,
                    "progress": 50,
                    "budget": "50000.00",
                    "actual_cost": "21000.00",
                    "variance": "29000.00",
                    "assigned_to": "user-7",
                    "created_by": "user-1",
                    "is_overdue": False,
                    "depends_on": [],
                    "created_at": "2026-02-20T09:00:00Z",
                    "updated_at": "2026-03-15T16:20:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    project_id: str
    stream: str = Field(description="The milestone's stream (slug).")
    name: str
    description: str
    status: str
    priority: str
    planned_start_date: date | None
    planned_end_date: date | None
    actual_start_date: date | None
    actual_end_date: date | None
    progress: int
    budget: Decimal | None
    actual_cost: Decimal | None
    variance: Decimal | None = Field(description="budget - actual_cost, when both are known.")
    assigned_to: str | None
    created_by: str | None
    is_overdue: bool
    depends_on: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime


class MilestoneList(Schema):
    count: int
    next: str | None
    previous: str | None
    next_cursor: str | None = None
    results: list[MilestoneRead]


class Blocker(Schema):
    id: uuid.UUID
    name: str
    status: str


class CommentCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"content": "Making good progress on this phase"}]}
    )

    content: Annotated[Text, StringConstraints(min_length=1, max_length=20_000)]
    parent: uuid.UUID | None = Field(default=None, description="The comment this replies to.")


class CommentUpdate(InputSchema):
    content: Annotated[Text, StringConstraints(min_length=1, max_length=20_000)]


class CommentRead(Schema):
    id: uuid.UUID
    milestone_id: uuid.UUID
    parent: uuid.UUID | None
    author: str
    content: str
    is_edited: bool
    edited_at: datetime | None
    created_at: datetime
    replies: list[CommentRead] = Field(default_factory=list)


class ProjectTimelineRead(Schema):
    project_id: str
    milestones: list[MilestoneRead]
    statistics: dict[str, int] = Field(description="Milestones per status.")
    overall_progress: float = Field(description="Progress weighted by planned duration, 0-100.")
    budget_total: Decimal
    actual_cost_total: Decimal
    variance_total: Decimal
    overdue_count: int


class MilestoneDashboardRead(Schema):
    assigned_count: int
    by_status: dict[str, int]
    overdue_count: int
    due_soon: list[MilestoneRead]
    milestones: list[MilestoneRead]


class ScheduledRead(Schema):
    id: uuid.UUID
    name: str
    status: str
    duration_days: int
    earliest_start: date
    earliest_finish: date
    latest_start: date
    latest_finish: date
    total_float: int = Field(description="Days of slack; negative: the deadline cannot be met.")
    critical: bool
    at_risk: bool


class CriticalPathRead(Schema):
    project_id: str
    critical_path: list[uuid.UUID] = Field(description="The critical chain, in schedule order.")
    projected_end: date | None
    deadline: date | None = Field(description="The latest planned end of the project.")
    at_risk: bool
    milestones: list[ScheduledRead]
    unscheduled: list[uuid.UUID] = Field(description="Milestones without planned dates.")


class GanttRow(Schema):
    id: uuid.UUID
    name: str
    status: str
    start: date | None = Field(description="Projected start (actual once started).")
    end: date | None = Field(description="Projected finish (actual once completed).")
    planned_start: date | None
    planned_end: date | None
    progress: int
    depends_on: list[uuid.UUID]
    critical: bool
    at_risk: bool
    assigned_to: str | None


class GanttRead(Schema):
    project_id: str
    projected_end: date | None
    rows: list[GanttRow]
