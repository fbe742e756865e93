"""foundation: tenants, users, streams, partitioned events, event types, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:12:08.876969+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Creates the monthly partitions of a range-partitioned table for [first, last] months and
# moves any rows that had landed in its DEFAULT partition for those months into them, so
# an insert never fails for want of a partition and a late partition loses nothing.
ENSURE_PARTITIONS_SQL = r"""
CREATE OR REPLACE FUNCTION tidings_ensure_partitions(
    parent text, key_column text, first_month date, last_month date
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', first_month)::date;
    part text;
    lo timestamptz;
    hi timestamptz;
    cols text;
    has_strays boolean;
    created integer := 0;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
      FROM pg_attribute
     WHERE attrelid = parent::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    WHILE month <= last_month LOOP
        part := format('%s_p%s', parent, to_char(month, 'YYYYMM'));
        IF to_regclass(part) IS NULL THEN
            lo := month::timestamp AT TIME ZONE 'UTC';
            hi := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= %L AND %I < %L)',
                           parent || '_default', key_column, lo, key_column, hi) INTO has_strays;
            IF has_strays THEN
                DROP TABLE IF EXISTS pg_temp.tidings_strays;
                EXECUTE format('CREATE TEMP TABLE tidings_strays ON COMMIT DROP AS '
                               'SELECT %s FROM %I WHERE %I >= %L AND %I < %L',
                               cols, parent || '_default', key_column, lo, key_column, hi);
                EXECUTE format('DELETE FROM %I WHERE %I >= %L AND %I < %L',
                               parent || '_default', key_column, lo, key_column, hi);
            END IF;
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           part, parent, lo, hi);
            IF has_strays THEN
                EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM pg_temp.tidings_strays',
                               parent, cols, cols);
                DROP TABLE pg_temp.tidings_strays;
            END IF;
            created := created + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN created;
END;
$$;
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stream_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "event_types",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("icon", sa.String(length=64), server_default="", nullable=False),
        sa.Column("category", sa.String(length=64), server_default="custom", nullable=False),
        sa.Column("summary_template", sa.Text(), server_default="", nullable=False),
        sa.Column("default_importance", sa.SmallInteger(), server_default="2", nullable=False),
        sa.Column("data_schema", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_event_types_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_types")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_event_types_tenant_id_key")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_idempotency_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False
    )
    op.create_table(
        "streams",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("stream_type", sa.String(length=32), nullable=False),
        sa.Column("object_type", sa.String(length=100), nullable=True),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("event_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("subscriber_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
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
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_streams_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streams")),
        sa.UniqueConstraint("tenant_id", "slug", name=op.f("uq_streams_tenant_id_slug")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_streams_tenant_id_id")),
    )
    op.create_index(
        "ix_streams_tenant_id_created_at",
        "streams",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_streams_tenant_id_object",
        "streams",
        ["tenant_id", "object_type", "object_id"],
        unique=True,
        postgresql_where=sa.text("object_type IS NOT NULL"),
    )
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_name", sa.String(length=150), nullable=True),
        sa.Column("last_name", sa.String(length=150), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=True),
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
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_users_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_users")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("stream_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("importance", sa.SmallInteger(), server_default="2", nullable=False),
        sa.Column("actor_id", sa.String(length=255), nullable=True),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "is_system_generated", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("assigned_to", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("priority", sa.String(length=32), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'A') || "
                "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B') || "
                "setweight(jsonb_to_tsvector('english'::regconfig, data, "
                "'[\"string\"]'::jsonb), 'C')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "stream_id"],
            ["streams.tenant_id", "streams.id"],
            name=op.f("fk_events_tenant_id_streams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "occurred_at", name=op.f("pk_events")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.create_index(
        "ix_events_tenant_id_occurred_at",
        "events",
        ["tenant_id", "occurred_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_events_tenant_id_search",
        "events",
        ["tenant_id", "search"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_events_tenant_id_stream_id_occurred_at",
        "events",
        ["tenant_id", "stream_id", "occurred_at", "id"],
        unique=False,
    )
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    op.execute(ENSURE_PARTITIONS_SQL)
    op.execute(
        "SELECT tidings_ensure_partitions('events', 'occurred_at', "
        "(now() - interval '1 month')::date, (now() + interval '3 months')::date)"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS tidings_ensure_partitions(text, text, date, date)")
    op.drop_index("ix_events_tenant_id_stream_id_occurred_at", table_name="events")
    op.drop_index("ix_events_tenant_id_search", table_name="events", postgresql_using="gin")
    op.drop_index("ix_events_tenant_id_occurred_at", table_name="events")
    op.drop_table("events")
    op.drop_table("users")
    op.drop_index(
        "uq_streams_tenant_id_object",
        table_name="streams",
        postgresql_where=sa.text("object_type IS NOT NULL"),
    )
    op.drop_index("ix_streams_tenant_id_created_at", table_name="streams")
    op.drop_table("streams")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("event_types")
    op.drop_table("tenants")
    op.drop_index(
        "ix_outbox_pending", table_name="outbox", postgresql_where=sa.text("processed_at IS NULL")
    )
    op.drop_table("outbox")
