"""Schema upgrades through Alembic (the only way the schema changes), then partitions."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from app.db import create_engine, create_session_factory
from app.services.partitions import partition_service
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# Monthly partitions (events_p202611) and default partitions are created by
# tidings_ensure_partitions(), not by the models; autogenerate must not drop them.
# A month on its way out of the feed is renamed `..._retiring` (app/services/retention.py).
PARTITION_NAME = re.compile(r"_(p\d{6}(_retiring)?|default)$")
# The archives are made by revision 0007 `LIKE` their live tables (app/models/retention.py
# describes them outside the models' metadata), so autogenerate leaves them alone too.
ARCHIVE_NAME = re.compile(r"_archive(_(p\d{6}|default))?$")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if name is None:
        return True
    if type_ == "table":
        return not (PARTITION_NAME.search(name) or ARCHIVE_NAME.search(name))
    if type_ == "index":
        return "_archive" not in name
    return True


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def ensure_partitions(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            return await partition_service.ensure_ahead(
                session, months_ahead=settings.partitions_ahead_months
            )
    finally:
        await engine.dispose()


def upgrade(settings: Settings) -> None:
    """`tidings migrate`: upgrade to head, then create the partitions ahead."""
    if settings.database_url is None:
        raise RuntimeError("TIDINGS_DATABASE_URL is not set")
    command.upgrade(alembic_config(settings.database_url), "head")
    asyncio.run(ensure_partitions(settings))
