"""events by record order: a stream's events after a given one, for WebSocket replay

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:50:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_tenant_id_stream_id_id", "events", ["tenant_id", "stream_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_tenant_id_stream_id_id", table_name="events")
