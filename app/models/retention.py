from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.event import Event
from app.models.feed import FeedItem


class RetentionPolicy(Base):
    """A tenant's overrides of the retention defaults (docs/retention.md); absent
    values mean the defaults."""

    __tablename__ = "retention_policies"

    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    # activity type -> days a feed item of that type is kept
    feed_days: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # days for the feed items of types neither the overrides nor the defaults name
    feed_default_days: Mapped[int | None] = mapped_column(Integer)
    # event type -> days an event of that type is kept (events are kept forever otherwise)
    event_days: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    deleted_grace_days: Mapped[int | None] = mapped_column(Integer)
    archive_events_after_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class JobLease(Base):
    """A maintenance job's claim to run alone (cleanup, archiving): taken for a while,
    renewed as the job goes, given back at the end; a crashed holder's lease lapses."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RetiringPartition(Base):
    """A month detached from the feed (renamed `name`) whose rows are still coming off
    the counters, a batch of users at a time: the last (tenant, user) done is kept, so a
    crashed run's successor resumes there. Dropped, or attached to the archive as
    `partition`, when done (docs/retention.md)."""

    __tablename__ = "retiring_partitions"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    parent: Mapped[str] = mapped_column(String(63), nullable=False)
    partition: Mapped[str] = mapped_column(String(63), nullable=False)  # its name as a month
    archive: Mapped[bool] = mapped_column(Boolean, nullable=False)
    lo: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    hi: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    after_tenant: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    after_user: Mapped[str] = mapped_column(String(255), nullable=False, server_default="")
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


# The archives have the live tables' columns exactly (revision 0007 creates them with
# `CREATE TABLE ... (LIKE ...)`, so a month's partition can move over whole). They are
# described here, outside Base.metadata, only to be queried.
archive_metadata = MetaData()


def _shadow(table: Table, name: str) -> Table:
    return Table(name, archive_metadata, *(Column._copy(c) for c in table.columns))


events_archive = _shadow(Event.__table__, "events_archive")  # type: ignore[arg-type]
feed_items_archive = _shadow(FeedItem.__table__, "feed_items_archive")  # type: ignore[arg-type]
