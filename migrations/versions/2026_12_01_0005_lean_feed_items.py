"""lean feed items: one key for delivery and order, counters per stream, fan-out cursor

Feed items stop copying the event's title, text, data and target (they are joined from
the event when read) and lose their own id (an item is named by its event), so the
delivery key (tenant, user, created_at, event) is the one index. Counters gain the
stream, so per-subscription unread counts are counter sums too; they are rebuilt from
the rows. The outbox row of an event carries its fan-out's progress.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("uq_feed_items_delivery", table_name="feed_items")
    op.drop_index("ix_feed_items_tenant_id_user_id_created_at", table_name="feed_items")
    op.drop_index("ix_feed_items_unread", table_name="feed_items")
    op.drop_constraint("pk_feed_items", "feed_items", type_="primary")
    for column in ("id", "title", "description", "data", "target_type", "target_id"):
        op.drop_column("feed_items", column)
    op.create_primary_key(
        "pk_feed_items", "feed_items", ["tenant_id", "user_id", "created_at", "event_id"]
    )

    op.drop_constraint("pk_feed_counters", "feed_counters", type_="primary")
    op.execute("DELETE FROM feed_counters")
    op.add_column("feed_counters", sa.Column("stream_id", sa.UUID(), nullable=False))
    op.execute(
        """
        INSERT INTO feed_counters (tenant_id, user_id, stream_id, activity_type, total, unread)
        SELECT tenant_id, user_id, stream_id, activity_type, count(*),
               count(*) FILTER (WHERE NOT is_read)
          FROM feed_items GROUP BY tenant_id, user_id, stream_id, activity_type
        """
    )
    op.create_primary_key(
        "pk_feed_counters",
        "feed_counters",
        ["tenant_id", "user_id", "stream_id", "activity_type"],
    )
    op.execute("ALTER TABLE feed_counters SET (fillfactor = 70)")

    op.add_column("outbox", sa.Column("fanout_cursor", sa.String(length=255), nullable=True))
    op.create_index(
        "ix_outbox_event_id",
        "outbox",
        ["event_id"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outbox_event_id", table_name="outbox", postgresql_where=sa.text("processed_at IS NULL")
    )
    op.drop_column("outbox", "fanout_cursor")

    op.execute("ALTER TABLE feed_counters RESET (fillfactor)")
    op.drop_constraint("pk_feed_counters", "feed_counters", type_="primary")
    op.execute("DELETE FROM feed_counters")
    op.drop_column("feed_counters", "stream_id")
    op.execute(
        """
        INSERT INTO feed_counters (tenant_id, user_id, activity_type, total, unread)
        SELECT tenant_id, user_id, activity_type, count(*), count(*) FILTER (WHERE NOT is_read)
          FROM feed_items GROUP BY tenant_id, user_id, activity_type
        """
    )
    op.create_primary_key(
        "pk_feed_counters", "feed_counters", ["tenant_id", "user_id", "activity_type"]
    )

    op.drop_constraint("pk_feed_items", "feed_items", type_="primary")
    op.add_column("feed_items", sa.Column("id", sa.UUID(), nullable=True))
    op.add_column("feed_items", sa.Column("title", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "feed_items", sa.Column("description", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "feed_items",
        sa.Column(
            "data",
            sa.dialects.postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("feed_items", sa.Column("target_type", sa.String(length=100), nullable=True))
    op.add_column("feed_items", sa.Column("target_id", sa.String(length=255), nullable=True))
    op.execute(
        """
        UPDATE feed_items f
           SET id = gen_random_uuid(), title = e.summary, description = e.description,
               data = e.data, target_type = s.object_type, target_id = s.object_id
          FROM events e JOIN streams s ON s.tenant_id = e.tenant_id AND s.id = e.stream_id
         WHERE e.tenant_id = f.tenant_id AND e.id = f.event_id AND e.occurred_at = f.created_at
        """
    )
    op.execute("UPDATE feed_items SET id = gen_random_uuid() WHERE id IS NULL")
    op.alter_column("feed_items", "id", nullable=False)
    op.create_primary_key("pk_feed_items", "feed_items", ["id", "created_at"])
    op.create_index(
        "uq_feed_items_delivery",
        "feed_items",
        ["tenant_id", "user_id", "event_id", "created_at"],
        unique=True,
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
