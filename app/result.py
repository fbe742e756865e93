"""What every service returns: `Ok(data)` or `Err(error)`.

Callers read like the seed's service API (`if result.success: result.data`), and
`match` narrows the union for the type checker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, Union

from app.errors import Error

T = TypeVar("T", covariant=True)
E = TypeVar("E", bound=Error, covariant=True)


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    data: T
    success: Literal[True] = True


@dataclass(frozen=True, slots=True)
class Err(Generic[E]):
    error: E
    success: Literal[False] = False


Result = Union[Ok[T], Err[E]]  # noqa: UP007 - a generic alias needs Union on 3.11

__all__ = ["Err", "Error", "Ok", "Result"]
