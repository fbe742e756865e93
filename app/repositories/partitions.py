from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, text

from app.repositories.base import Repository

# (parent table, partition key) of every time-partitioned table.
PARTITIONED_TABLES: tuple[tuple[str, str], ...] = (
    ("events", "occurred_at"),
    ("feed_items", "created_at"),
)
# Their archives, whose partitions are made as rows or months are moved in.
ARCHIVES: dict[str, str] = {"events": "events_archive", "feed_items": "feed_items_archive"}


class PartitionRepository(Repository):
    async def ensure_monthly(self, table: str, key: str, first: date, last: date) -> int:
        """Creates the missing monthly partitions of `table` from `first` to `last` (moving
        rows the default partition caught for them); returns how many it created."""
        stmt = text("SELECT tidings_ensure_partitions(:t, :k, :first, :last)").bindparams(
            bindparam("first", type_=None), bindparam("last", type_=None)
        )
        created = await self.session.scalar(
            stmt, {"t": table, "k": key, "first": first, "last": last}
        )
        return int(created or 0)

    async def stray_months(self, table: str, key: str) -> list[date]:
        """Months that have rows in the default partition (events dated outside the
        partitions created so far, e.g. imported history)."""
        rows = await self.session.scalars(
            text(
                f"SELECT DISTINCT date_trunc('month', \"{key}\" AT TIME ZONE 'UTC')::date "
                f'FROM "{table}_default"'
            )
        )
        return sorted(rows)
