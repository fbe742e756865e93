from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class EventType(Base):
    """A tenant-registered event type; the built-in catalogue lives in code
    (app/services/event_catalog.py) with pydantic schemas for its data."""

    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(100), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    icon: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    category: Mapped[str] = mapped_column(String(64), nullable=False, server_default="custom")
    summary_template: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    default_importance: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, server_default="2"
    )
    data_schema: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()
