"""retiring partitions: months detached from the feed whose counters are still being
taken down

A month past every retention leaves the feed in a moment (detach, rename); its rows then
come off the counters a batch of users at a time, the batch's last (tenant, user) kept
here, so a crash resumes where it stopped; the table is dropped (or attached to the
archive) and its row here deleted when the last batch is done.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retiring_partitions",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("parent", sa.String(length=63), nullable=False),
        sa.Column("partition", sa.String(length=63), nullable=False),
        sa.Column("archive", sa.Boolean(), nullable=False),
        sa.Column("lo", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hi", sa.DateTime(timezone=True), nullable=False),
        sa.Column("after_tenant", sa.String(length=64), server_default="", nullable=False),
        sa.Column("after_user", sa.String(length=255), server_default="", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_retiring_partitions")),
    )


def downgrade() -> None:
    left = op.get_bind().scalar(sa.text("SELECT string_agg(name, ', ') FROM retiring_partitions"))
    if left:
        # Their counters are still to come down: without this table nothing would finish
        # them, and the counters would stay over by their rows for good.
        raise RuntimeError(
            f"months are still retiring ({left}): run `tidings cleanup-activity-feeds`"
            " to finish them, then downgrade"
        )
    op.drop_table("retiring_partitions")
