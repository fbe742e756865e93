from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Row, Select, String, and_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.models import Tenant, User
from app.repositories.base import Repository


def _get_or_create_statement() -> Select[str, str | None, str | None, str | None]:
    ids = bindparam("ids", type_=ARRAY(String))
    tenant = bindparam("tenant_id", type_=String)
    missing = (
        pg_insert(User)
        .from_select(["tenant_id", "id"], select(tenant, func.unnest(ids)))
        .on_conflict_do_nothing()
        .cte("missing")
    )
    return (
        select(User.id, User.email, User.first_name, User.last_name)
        .where(User.tenant_id == tenant, User.id == func.any(ids))
        .add_cte(missing)
    )


# A fixed shape (one array parameter), so compiled once and prepared once per connection.
_GET_OR_CREATE = _get_or_create_statement()


class UserRepository(Repository):
    async def upsert(
        self,
        *,
        tenant_id: str,
        user_id: str,
        email: str | None,
        first_name: str | None,
        last_name: str | None,
        name: str | None,
    ) -> None:
        """Creates the tenant and user on first sight and refreshes changed claims, in one
        round trip; an unchanged user is not rewritten."""
        tenant = pg_insert(Tenant).values(id=tenant_id).on_conflict_do_nothing().cte("new_tenant")
        user = pg_insert(User).values(
            tenant_id=tenant_id,
            id=user_id,
            email=email,
            first_name=first_name,
            last_name=last_name,
            name=name,
        )
        changed = or_(
            *(
                and_(new.is_not(None), new.is_distinct_from(old))
                for new, old in (
                    (user.excluded.email, User.email),
                    (user.excluded.first_name, User.first_name),
                    (user.excluded.last_name, User.last_name),
                    (user.excluded.name, User.name),
                )
            )
        )
        stmt = user.on_conflict_do_update(
            index_elements=[User.tenant_id, User.id],
            # A claim a token leaves out is unknown, not erased.
            set_={
                "email": func.coalesce(user.excluded.email, User.email),
                "first_name": func.coalesce(user.excluded.first_name, User.first_name),
                "last_name": func.coalesce(user.excluded.last_name, User.last_name),
                "name": func.coalesce(user.excluded.name, User.name),
                "updated_at": func.now(),
            },
            where=changed,
        ).add_cte(tenant)
        await self.session.execute(stmt)

    async def get_or_create_many(
        self, tenant_id: str, user_ids: Iterable[str]
    ) -> dict[str, Row[str, str | None, str | None, str | None]]:
        """The known users among `user_ids`, in one round trip that also creates bare rows
        for the unknown ones (an `actor_id` sent by a host back end before that user ever
        signed in); those are absent from the answer, as they have nothing to show yet."""
        ids = sorted(set(user_ids))
        if not ids:
            return {}
        result = await self.session.execute(_GET_OR_CREATE, {"tenant_id": tenant_id, "ids": ids})
        return {row.id: row for row in result}

    async def get_many(
        self, tenant_id: str, user_ids: Iterable[str]
    ) -> dict[str, Row[str, str | None, str | None, str | None]]:
        ids = list(set(user_ids))
        if not ids:
            return {}
        result = await self.session.execute(
            select(User.id, User.email, User.first_name, User.last_name).where(
                User.tenant_id == tenant_id, User.id.in_(ids)
            )
        )
        return {row.id: row for row in result}
