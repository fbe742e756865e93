"""feeds: subscriptions, partitioned feed items, unread counters, event recipients

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:06:57.917504+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_counters",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("activity_type", sa.String(length=100), nullable=False),
        sa.Column("total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unread", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "user_id", "activity_type", name=op.f("pk_feed_counters")
        ),
    )
    op.create_table(
        "feed_items",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("stream_id", sa.UUID(), nullable=False),
        sa.Column("activity_type", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("target_type", sa.String(length=100), nullable=True),
        sa.Column("target_id", sa.String(length=255), nullable=True),
        sa.Column("is_read", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", "created_at", name=op.f("pk_feed_items")),
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index(
        "ix_feed_items_tenant_id_user_id_created_at",
        "feed_items",
        ["tenant_id", "user_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_feed_items_unread",
        "feed_items",
        ["tenant_id", "user_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("NOT is_read"),
    )
    op.create_index(
        "uq_feed_items_delivery",
        "feed_items",
        ["tenant_id", "user_id", "event_id", "created_at"],
        unique=True,
    )
    op.execute("CREATE TABLE feed_items_default PARTITION OF feed_items DEFAULT")
    op.execute(
        "SELECT tidings_ensure_partitions('feed_items', 'created_at', "
        "(now() - interval '1 month')::date, (now() + interval '3 months')::date)"
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("stream_id", sa.UUID(), nullable=False),
        sa.Column("subscription_type", sa.String(length=16), nullable=False),
        sa.Column("notify_email", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("notify_push", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("min_importance", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["tenant_id", "stream_id"],
            ["streams.tenant_id", "streams.id"],
            name=op.f("fk_subscriptions_tenant_id_streams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_subscriptions_tenant_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "tenant_id",
            "stream_id",
            "user_id",
            name=op.f("uq_subscriptions_tenant_id_stream_id_user_id"),
        ),
    )
    op.create_index(
        "ix_subscriptions_tenant_id_user_id",
        "subscriptions",
        ["tenant_id", "user_id", "created_at"],
        unique=False,
    )
    op.add_column(
        "events", sa.Column("recipients", postgresql.ARRAY(sa.String(length=255)), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("events", "recipients")
    op.drop_index("ix_subscriptions_tenant_id_user_id", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("uq_feed_items_delivery", table_name="feed_items")
    op.drop_index(
        "ix_feed_items_unread", table_name="feed_items", postgresql_where=sa.text("NOT is_read")
    )
    op.drop_index("ix_feed_items_tenant_id_user_id_created_at", table_name="feed_items")
    op.drop_table("feed_items")
    op.drop_table("feed_counters")
