"""activities: the stats rollup, list indexes, outbox kinds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:33:40.242942+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity_rollup",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=32), server_default="", nullable=False),
        sa.Column("user_id", sa.String(length=255), server_default="", nullable=False),
        sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "day",
            "event_type",
            "status",
            "user_id",
            "shard",
            name=op.f("pk_activity_rollup"),
        ),
    )
    op.create_index(
        "ix_events_tenant_id_assigned_to_occurred_at",
        "events",
        ["tenant_id", "assigned_to", "occurred_at", "id"],
        unique=False,
        postgresql_where=sa.text("assigned_to IS NOT NULL"),
    )
    op.create_index(
        "ix_events_tenant_id_event_type_occurred_at",
        "events",
        ["tenant_id", "event_type", "occurred_at", "id"],
        unique=False,
    )
    op.add_column(
        "outbox", sa.Column("kind", sa.String(length=16), server_default="created", nullable=False)
    )
    # Events recorded before this revision count in the rollup too.
    op.execute(
        """
        INSERT INTO activity_rollup (tenant_id, day, event_type, status, user_id, count)
        SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, event_type,
               coalesce(status, ''), coalesce(assigned_to, actor_id, ''), count(*)
          FROM events
         WHERE NOT is_deleted
         GROUP BY 1, 2, 3, 4, 5
        """
    )


def downgrade() -> None:
    op.drop_column("outbox", "kind")
    op.drop_index("ix_events_tenant_id_event_type_occurred_at", table_name="events")
    op.drop_index(
        "ix_events_tenant_id_assigned_to_occurred_at",
        table_name="events",
        postgresql_where=sa.text("assigned_to IS NOT NULL"),
    )
    op.drop_table("activity_rollup")
