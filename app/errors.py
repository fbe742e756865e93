"""Domain errors: expected failures a service returns inside `Err`.

They carry a machine `code`, a human `message` and optional `details`; no HTTP
status lives here (the API maps codes to statuses in one table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: `loc` is the path to it (`["events", 3, "data", "text"]`)."""

    loc: tuple[str | int, ...]
    message: str
    type: str = "invalid"


@dataclass(frozen=True, slots=True)
class Error:
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    code: ClassVar[str] = "error"


@dataclass(frozen=True, slots=True)
class NotFound(Error):
    code: ClassVar[str] = "not_found"


@dataclass(frozen=True, slots=True)
class Forbidden(Error):
    code: ClassVar[str] = "forbidden"


@dataclass(frozen=True, slots=True)
class Conflict(Error):
    code: ClassVar[str] = "conflict"


@dataclass(frozen=True, slots=True)
class InvalidState(Error):
    code: ClassVar[str] = "invalid_state"


@dataclass(frozen=True, slots=True)
class ValidationFailed(Error):
    """Input that passed the request schema but fails a domain rule (unknown event type,
    data that fails its type's schema)."""

    errors: tuple[FieldError, ...] = ()
    code: ClassVar[str] = "validation_failed"

    @classmethod
    def at(
        cls, loc: tuple[str | int, ...], message: str, type_: str = "invalid"
    ) -> ValidationFailed:
        return cls(message=message, errors=(FieldError(loc=loc, message=message, type=type_),))

    def under(self, *prefix: str | int) -> ValidationFailed:
        """The same errors, located under `prefix` (a batch item, a nested body)."""
        return ValidationFailed(
            message=self.message,
            details=self.details,
            errors=tuple(
                FieldError(loc=(*prefix, *e.loc), message=e.message, type=e.type)
                for e in self.errors
            ),
        )
