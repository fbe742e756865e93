"""Enumerations shared by every layer (the wire names are the values)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Importance(IntEnum):
    """Seed 000's EventImportance; stored as a small int so `>= min_importance` is a range."""

    low = 1
    normal = 2
    high = 3
    critical = 4

    @classmethod
    def parse(cls, value: str | int) -> Importance:
        if isinstance(value, int):
            return cls(value)
        return cls[value.strip().lower()]


class StreamType(StrEnum):
    """Seed 000's StreamType plus the CRM objects of seeds 001/004 and free streams."""

    project = "project"
    milestone = "milestone"
    order = "order"
    task = "task"
    user = "user"
    product = "product"
    crm = "crm"
    general = "general"
