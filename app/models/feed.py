from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Boolean, DateTime, PrimaryKeyConstraint, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base

if TYPE_CHECKING:
    from app.models.stream import Stream


class FeedItem(Base):
    """One event delivered to one user's feed (seed 002's UserActivityFeed).

    A lean row: who, which event, its type and the read state. The title, text, data and
    target are the event's and its stream's, joined when a page is read, so a fan-out
    writes ~100 bytes per recipient and an edited event reads edited everywhere.

    Range-partitioned by `created_at`, which is the event's `occurred_at`, so the same
    event always lands in the same partition. The key (tenant, user, created_at,
    event) is both the delivery's uniqueness (delivering twice is a no-op) and the
    feed's newest-first order: one index. The item's id on the API is its event's id.
    Unread-only pages filter that index rather than keeping a second, partial one: every
    delivered row would pay for it twice (insert, then mark-read) to speed up a page
    whose unread rows are nearly always the newest (docs/decisions.md)."""

    __tablename__ = "feed_items"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "user_id", "created_at", "event_id"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    tenant_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    stream_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    activity_type: Mapped[str] = mapped_column(String(100), nullable=False)
    is_read: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # The stream, for the admin site's lists (loaded only when asked for: `lazy="raise"`).
    stream: Mapped[Stream] = relationship(
        "Stream",
        primaryjoin="and_(Stream.tenant_id == foreign(FeedItem.tenant_id), "
        "Stream.id == foreign(FeedItem.stream_id))",
        viewonly=True,
        lazy="raise",
    )


class FeedCounter(Base):
    """Per user, stream and activity type: how many feed items, how many unread. Changed
    in the same statement as the items, so no count ever counts rows: a user's unread
    total, per type (the feed's filters) and per stream (their subscriptions) are sums
    over their few counter rows. Pages are left a third free so the fan-out's increments
    are HOT updates (no index entry per bump)."""

    __tablename__ = "feed_counters"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "user_id", "stream_id", "activity_type"),
        {"postgresql_with": {"fillfactor": "70"}},
    )

    tenant_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(255))
    stream_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    activity_type: Mapped[str] = mapped_column(String(100))
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    unread: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
