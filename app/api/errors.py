"""The one place errors become HTTP: RFC 9457 problem+json for every 4xx and 5xx."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.errors import Conflict, Error, Forbidden, InvalidState, NotFound, ValidationFailed
from app.logging import log
from app.result import Err, Ok, Result
from app.schemas.common import Problem

T = TypeVar("T")
PROBLEM_JSON = "application/problem+json"

STATUS_BY_ERROR: dict[type[Error], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    InvalidState: 409,
    ValidationFailed: 422,
}


class ProblemError(Exception):
    """Raised (never returned) so the request's transaction rolls back."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.extra, self.headers = errors, extra or {}, headers or {}

    @classmethod
    def from_error(cls, error: Error, location: str | None = None) -> ProblemError:
        errors = None
        if isinstance(error, ValidationFailed):
            prefix = [location] if location else []
            errors = [
                {"loc": [*prefix, *e.loc], "msg": e.message, "type": e.type} for e in error.errors
            ]
            detail = _field_detail(errors) if errors else error.message
        else:
            detail = error.message
        return cls(
            STATUS_BY_ERROR.get(type(error), 400),
            error.code,
            detail,
            errors=errors,
            extra=dict(error.details),
        )


def unwrap(result: Result[T, Any], *, location: str | None = None) -> T:
    """The data of an `Ok`; an `Err` raises its problem. `location` ("body", "query")
    prefixes validation errors' field paths, as the request's own validation does."""
    match result:
        case Ok(data=data):
            return data
        case Err(error=error):
            raise ProblemError.from_error(error, location)
    raise TypeError("not a Result")  # pragma: no cover


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:tidings:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return Response(
        orjson.dumps(body, default=str),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_detail(errors: list[dict[str, Any]]) -> str:
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


async def _problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status, exc.code, exc.detail, errors=exc.errors, extra=exc.extra, headers=exc.headers
    )


async def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", "invalid"), "type": err.get("type")}
        for err in exc.errors()
    ]
    return problem_response(422, "validation_failed", _field_detail(errors), errors=errors)


async def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
        exc.status_code, "http_error"
    )
    return problem_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("request.failed", path=request.url.path, method=request.method)
    return problem_response(500, "internal_error", "an unexpected error occurred; it was logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problems a route can answer with."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }
