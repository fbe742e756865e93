from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class Milestone(Base):
    """A project milestone (seed 000): schedule, progress, money, its own stream."""

    __tablename__ = "milestones"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        Index(
            "ix_milestones_tenant_id_project_id", "tenant_id", "project_id", "planned_start_date"
        ),
        Index("ix_milestones_tenant_id_assigned_to", "tenant_id", "assigned_to"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        CheckConstraint(
            "planned_end_date IS NULL OR planned_start_date IS NULL "
            "OR planned_end_date >= planned_start_date",
            name="planned_order",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "stream_id"], ["streams.tenant_id", "streams.id"], ondelete="RESTRICT"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    stream_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="planned")
    priority: Mapped[str] = mapped_column(String(16), nullable=False, server_default="medium")
    planned_start_date: Mapped[date | None] = mapped_column(Date)
    planned_end_date: Mapped[date | None] = mapped_column(Date)
    actual_start_date: Mapped[date | None] = mapped_column(Date)
    actual_end_date: Mapped[date | None] = mapped_column(Date)
    progress: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    actual_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    assigned_to: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(255))
    # Set once by the overdue job, so MILESTONE_OVERDUE is emitted once per milestone.
    overdue_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class MilestoneDependency(Base):
    """`milestone_id` cannot start before `depends_on_id` is completed. A DAG per project."""

    __tablename__ = "milestone_dependencies"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "milestone_id", "depends_on_id"),
        Index("ix_milestone_dependencies_depends_on", "tenant_id", "depends_on_id"),
        CheckConstraint("milestone_id <> depends_on_id", name="not_self"),
        ForeignKeyConstraint(
            ["tenant_id", "milestone_id"],
            ["milestones.tenant_id", "milestones.id"],
            ondelete="CASCADE",
            name="fk_milestone_dependencies_milestone",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "depends_on_id"],
            ["milestones.tenant_id", "milestones.id"],
            ondelete="CASCADE",
            name="fk_milestone_dependencies_depends_on",
        ),
    )

    tenant_id: Mapped[str] = mapped_column(String(64))
    milestone_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    depends_on_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at_column()


class MilestoneComment(Base):
    """Threaded comments on a milestone; authors may edit their own (tracked)."""

    __tablename__ = "milestone_comments"
    __table_args__ = (
        Index("ix_milestone_comments_milestone", "tenant_id", "milestone_id", "created_at"),
        ForeignKeyConstraint(
            ["tenant_id", "milestone_id"],
            ["milestones.tenant_id", "milestones.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    milestone_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    author_id: Mapped[str] = mapped_column(String(255), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    is_edited: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
