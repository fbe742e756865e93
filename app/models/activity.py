from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, PrimaryKeyConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class ActivityRollup(Base):
    """Seed 004's `activity_timeline_summary`, kept current in the transaction that records,
    edits or deletes an event: events per UTC day, type, status and user (the assignee,
    else the actor). Stats over millions of events read thousands of these rows instead."""

    __tablename__ = "activity_rollup"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "day", "event_type", "status", "user_id", "shard"),
    )

    tenant_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    event_type: Mapped[str] = mapped_column(String(100))
    # '' rather than NULL so the key is usable as a primary key and upsert target.
    status: Mapped[str] = mapped_column(String(32), server_default="")
    user_id: Mapped[str] = mapped_column(String(255), server_default="")
    # Each writing statement picks one of ROLLUP_SHARDS rows per key, so concurrent
    # ingest of the same kind of event does not queue on one row lock until commit.
    shard: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
