"""Time-ordered ids (UUIDv7): ordered like the events they name, so keyset pages and
"everything after event X" replays are index range scans."""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    return uuid7()
