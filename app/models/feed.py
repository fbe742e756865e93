from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class FeedItem(Base):
    """One delivered event in one user's feed (seed 002's UserActivityFeed).

    Range-partitioned by `created_at`, which is the event's time, so the same event
    always lands in the same partition and (user, event) can be unique: delivering
    twice is a no-op."""

    __tablename__ = "feed_items"
    __table_args__ = (
        PrimaryKeyConstraint("id", "created_at"),
        Index(
            "uq_feed_items_delivery",
            "tenant_id",
            "user_id",
            "event_id",
            "created_at",
            unique=True,
        ),
        Index(
            "ix_feed_items_tenant_id_user_id_created_at", "tenant_id", "user_id", "created_at", "id"
        ),
        Index(
            "ix_feed_items_unread",
            "tenant_id",
            "user_id",
            "created_at",
            "id",
            postgresql_where=text("NOT is_read"),
        ),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    stream_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    activity_type: Mapped[str] = mapped_column(String(100), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    target_type: Mapped[str | None] = mapped_column(String(100))
    target_id: Mapped[str | None] = mapped_column(String(255))
    is_read: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FeedCounter(Base):
    """Per user and activity type: how many feed items, how many unread. Changed in the
    same statement as the items, so reading a count never counts rows."""

    __tablename__ = "feed_counters"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "user_id", "activity_type"),)

    tenant_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(255))
    activity_type: Mapped[str] = mapped_column(String(100))
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    unread: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
