from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class Stream(Base):
    """A sequence of events about one host object (`project`/`42`) or a free stream."""

    __tablename__ = "streams"
    __table_args__ = (
        UniqueConstraint("tenant_id", "slug"),
        # The target of events' (tenant_id, stream_id) key: an event's stream is always
        # its tenant's, and deleting a stream finds its events through their index.
        UniqueConstraint("tenant_id", "id"),
        # get_or_create_for_object's key: one stream per host object.
        Index(
            "uq_streams_tenant_id_object",
            "tenant_id",
            "object_type",
            "object_id",
            unique=True,
            postgresql_where=text("object_type IS NOT NULL"),
        ),
        Index("ix_streams_tenant_id_created_at", "tenant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    slug: Mapped[str] = mapped_column(String(200), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    stream_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    event_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    subscriber_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
