from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_at_column

if TYPE_CHECKING:
    from app.models.stream import Stream


class Subscription(Base):
    """A user following a stream (seed 000's StreamSubscription)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        # Fan-out walks a stream's subscribers in user order, in chunks.
        UniqueConstraint("tenant_id", "stream_id", "user_id"),
        Index("ix_subscriptions_tenant_id_user_id", "tenant_id", "user_id", "created_at"),
        ForeignKeyConstraint(
            ["tenant_id", "stream_id"], ["streams.tenant_id", "streams.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    stream_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # follow, watch (everything) or mute (kept, but receives nothing)
    subscription_type: Mapped[str] = mapped_column(String(16), nullable=False)
    notify_email: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    notify_push: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    min_importance: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")
    last_read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    # The stream, for the admin site's lists (loaded only when asked for: `lazy="raise"`).
    stream: Mapped[Stream] = relationship(
        "Stream",
        primaryjoin="and_(Stream.tenant_id == foreign(Subscription.tenant_id), "
        "Stream.id == foreign(Subscription.stream_id))",
        viewonly=True,
        lazy="raise",
    )
