"""retention: per-tenant policies, and archives shaped like the live tables

`events_archive` and `feed_items_archive` are made `LIKE` their live tables (generated
search column included), range-partitioned the same way with a default partition, so a
month's partition can be moved over whole (detach, attach) as well as row by row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column(
            "feed_days",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("feed_default_days", sa.Integer(), nullable=True),
        sa.Column(
            "event_days",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("deleted_grace_days", sa.Integer(), nullable=True),
        sa.Column("archive_events_after_days", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_retention_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_index(
        "ix_events_deleted",
        "events",
        ["tenant_id", "deleted_at"],
        postgresql_where=sa.text("is_deleted"),
    )
    op.execute(
        "CREATE TABLE events_archive (LIKE events INCLUDING DEFAULTS INCLUDING GENERATED)"
        " PARTITION BY RANGE (occurred_at)"
    )
    op.execute(
        "ALTER TABLE events_archive ADD CONSTRAINT pk_events_archive PRIMARY KEY (id, occurred_at)"
    )
    op.execute(
        "CREATE INDEX ix_events_archive_tenant_id_occurred_at"
        " ON events_archive (tenant_id, occurred_at, id)"
    )
    op.execute("CREATE TABLE events_archive_default PARTITION OF events_archive DEFAULT")
    op.execute(
        "CREATE TABLE feed_items_archive (LIKE feed_items INCLUDING DEFAULTS)"
        " PARTITION BY RANGE (created_at)"
    )
    op.execute(
        "ALTER TABLE feed_items_archive ADD CONSTRAINT pk_feed_items_archive"
        " PRIMARY KEY (tenant_id, user_id, created_at, event_id)"
    )
    op.execute("CREATE TABLE feed_items_archive_default PARTITION OF feed_items_archive DEFAULT")


def downgrade() -> None:
    op.execute("DROP TABLE feed_items_archive")
    op.execute("DROP TABLE events_archive")
    op.drop_index("ix_events_deleted", table_name="events", postgresql_where=sa.text("is_deleted"))
    op.drop_table("job_leases")
    op.drop_table("retention_policies")
