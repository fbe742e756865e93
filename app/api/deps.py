"""Dependencies as `Annotated` aliases: route signatures list these and their inputs only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis as RedisClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.errors import ProblemError
from app.auth import AuthError, Principal, TokenVerifier
from app.db import Reader, set_delivery, transaction
from app.pagination import Cursor, PageRequest
from app.services.live import set_live
from app.services.users import user_service

bearer = HTTPBearer(
    auto_error=False,
    description="A JWT with `sub`, `tenant_id` and `roles` claims (`tidings token` mints one).",
)


def prepare_session(app: Any) -> Callable[[AsyncSession], None]:
    """How the app's sessions deliver events (fan-out mode) and publish live messages."""

    def prepare(session: AsyncSession) -> None:
        set_delivery(session, app.state.delivery)
        set_live(session, app.state.live)

    return prepare


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent (scope
    "function"), rolled back on any exception; buffered side effects run after commit."""
    async with transaction(
        request.app.state.session_factory, prepare_session(request.app)
    ) as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _unauthorized(detail: str, error: str | None = None) -> ProblemError:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return ProblemError(
        401, error or "unauthorized", detail, headers={"WWW-Authenticate": challenge}
    )


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.verifier
    try:
        principal = verifier.verify(credentials.credentials)
    except AuthError as exc:
        raise _unauthorized(str(exc), "invalid_token") from exc
    # Mirrored on first sight in a transaction of its own, so a read needs no session.
    await user_service.ensure_known(
        request.app.state.session_factory, principal, request.app.state.known_users
    )
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


async def get_reader(request: Request) -> Reader:
    reader: Reader = request.app.state.reader
    return reader


# For the hot reads: a connection straight from the pool, no session (app.db.Reader).
Reads = Annotated[Reader, Depends(get_reader)]


async def get_redis(request: Request) -> RedisClient:
    client: RedisClient = request.app.state.redis
    return client


Redis = Annotated[RedisClient, Depends(get_redis)]


async def page_request(
    page: Annotated[
        int | None, Query(ge=1, le=10_000, description="Page number (DRF style).")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=100, description="Results per page.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageRequest:
    decoded = None
    if cursor is not None:
        if page is not None:
            raise _bad_query("page", "send `page` or `cursor`, not both")
        try:
            decoded = Cursor.decode(cursor)
        except ValueError as exc:
            raise _bad_query("cursor", "not a cursor this service issued") from exc
    return PageRequest(page_size=page_size, cursor=decoded, page=page)


async def numbered_page_request(
    page: Annotated[int, Query(ge=1, le=10_000, description="Page number.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="Results per page.")] = 50,
) -> PageRequest:
    """For orders that have no keyset (search relevance): numbered pages only."""
    return PageRequest(page_size=page_size, page=page)


def _bad_query(name: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        "validation_failed",
        f"query.{name}: {message}",
        errors=[{"loc": ["query", name], "msg": message, "type": "value_error"}],
    )


Paging = Annotated[PageRequest, Depends(page_request)]
NumberedPaging = Annotated[PageRequest, Depends(numbered_page_request)]
