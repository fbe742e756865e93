"""milestones: milestones, their dependencies and comments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:40:25.360759+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.create_table(
        "milestones",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("stream_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="planned", nullable=False),
        sa.Column("priority", sa.String(length=16), server_default="medium", nullable=False),
        sa.Column("planned_start_date", sa.Date(), nullable=True),
        sa.Column("planned_end_date", sa.Date(), nullable=True),
        sa.Column("actual_start_date", sa.Date(), nullable=True),
        sa.Column("actual_end_date", sa.Date(), nullable=True),
        sa.Column("progress", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("budget", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("actual_cost", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("assigned_to", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("overdue_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "planned_end_date IS NULL OR planned_start_date IS NULL "
            "OR planned_end_date >= planned_start_date",
            name=op.f("ck_milestones_planned_order"),
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_milestones_progress_range")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "stream_id"],
            ["streams.tenant_id", "streams.id"],
            name=op.f("fk_milestones_tenant_id_streams"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestones")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_milestones_tenant_id_id")),
    )
    op.create_index(
        "ix_milestones_tenant_id_assigned_to",
        "milestones",
        ["tenant_id", "assigned_to"],
        unique=False,
    )
    op.create_index(
        "ix_milestones_tenant_id_project_id",
        "milestones",
        ["tenant_id", "project_id", "planned_start_date"],
        unique=False,
    )
    op.create_table(
        "milestone_comments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("milestone_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("author_id", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("is_edited", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "milestone_id"],
            ["milestones.tenant_id", "milestones.id"],
            name=op.f("fk_milestone_comments_tenant_id_milestones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestone_comments")),
    )
    op.create_index(
        "ix_milestone_comments_milestone",
        "milestone_comments",
        ["tenant_id", "milestone_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "milestone_dependencies",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("milestone_id", sa.UUID(), nullable=False),
        sa.Column("depends_on_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "milestone_id <> depends_on_id", name=op.f("ck_milestone_dependencies_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "depends_on_id"],
            ["milestones.tenant_id", "milestones.id"],
            name="fk_milestone_dependencies_depends_on",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "milestone_id"],
            ["milestones.tenant_id", "milestones.id"],
            name="fk_milestone_dependencies_milestone",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "milestone_id", "depends_on_id", name=op.f("pk_milestone_dependencies")
        ),
    )
    op.create_index(
        "ix_milestone_dependencies_depends_on",
        "milestone_dependencies",
        ["tenant_id", "depends_on_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_column("tenants", "time_zone")
    op.drop_index("ix_milestone_dependencies_depends_on", table_name="milestone_dependencies")
    op.drop_table("milestone_dependencies")
    op.drop_index("ix_milestone_comments_milestone", table_name="milestone_comments")
    op.drop_table("milestone_comments")
    op.drop_index("ix_milestones_tenant_id_project_id", table_name="milestones")
    op.drop_index("ix_milestones_tenant_id_assigned_to", table_name="milestones")
    op.drop_table("milestones")
