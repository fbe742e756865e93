from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_at_column

if TYPE_CHECKING:
    from app.models.stream import Stream

# Summary weighs most, then description, then the string values of the data.
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B') || "
    "setweight(jsonb_to_tsvector('english'::regconfig, data, '[\"string\"]'::jsonb), 'C')"
)


class Event(Base):
    """An immutable record of something that happened to a stream's object.

    Range-partitioned by `occurred_at` (monthly), so the key includes it.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index(
            "ix_events_tenant_id_stream_id_occurred_at",
            "tenant_id",
            "stream_id",
            "occurred_at",
            "id",
        ),
        Index("ix_events_tenant_id_occurred_at", "tenant_id", "occurred_at", "id"),
        # A stream's events in the order they were recorded (ids are UUIDv7): what a
        # reconnecting WebSocket missed, whatever time the events say they happened.
        Index("ix_events_tenant_id_stream_id_id", "tenant_id", "stream_id", "id"),
        # Soft-deleted events, for their removal once the grace period is over.
        Index(
            "ix_events_deleted",
            "tenant_id",
            "deleted_at",
            postgresql_where=text("is_deleted"),
        ),
        # Company-wide lists filtered by type (seed 001's index) or assignee (seed 004).
        Index(
            "ix_events_tenant_id_event_type_occurred_at",
            "tenant_id",
            "event_type",
            "occurred_at",
            "id",
        ),
        Index(
            "ix_events_tenant_id_assigned_to_occurred_at",
            "tenant_id",
            "assigned_to",
            "occurred_at",
            "id",
            postgresql_where=text("assigned_to IS NOT NULL"),
        ),
        # Led by the tenant (btree_gin) so the planner stays GIN-only (PERFORMANCE.md).
        Index("ix_events_tenant_id_search", "tenant_id", "search", postgresql_using="gin"),
        ForeignKeyConstraint(
            ["tenant_id", "stream_id"], ["streams.tenant_id", "streams.id"], ondelete="CASCADE"
        ),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    stream_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_type: Mapped[str] = mapped_column(String(100), nullable=False)
    importance: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="2")
    actor_id: Mapped[str | None] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    is_system_generated: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    # CRM activity fields (seed 004); null for other events.
    assigned_to: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str | None] = mapped_column(String(32))
    # Users to notify besides the stream's subscribers (seed 002's "You joined ...").
    recipients: Mapped[list[str] | None] = mapped_column(ARRAY(String(255)))
    is_deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    search: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True))

    # The stream, for the admin site's lists (loaded only when asked for: `lazy="raise"`).
    stream: Mapped[Stream] = relationship(
        "Stream",
        primaryjoin="and_(Stream.tenant_id == foreign(Event.tenant_id), "
        "Stream.id == foreign(Event.stream_id))",
        viewonly=True,
        lazy="raise",
    )


class Outbox(Base):
    """Written in the same transaction as each event; the fan-out worker consumes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("processed_at IS NULL")),
        # A fan-out chunk finds (and locks) its event's row by event id.
        Index("ix_outbox_event_id", "event_id", postgresql_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    stream_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # created, updated or deleted: what the consumers (fan-out, live layer) are told.
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="created")
    created_at: Mapped[datetime] = created_at_column()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # The last recipient (user id) a committed fan-out chunk delivered to: a re-run
    # resumes after it, so no chunk is delivered twice.
    fanout_cursor: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """(tenant, key) -> event; a unique index on the partitioned events table could not
    span partitions, so the key lives here and the maintenance job expires it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # sha256 of the request: a key reused for a different request is a conflict.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
