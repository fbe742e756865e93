"""Users are mirrored from token claims so events can embed their actors."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.repositories.users import UserRepository


class UserService:
    async def sync_principal(self, session: AsyncSession, principal: Principal) -> None:
        """Creates the caller's tenant and user on first sight and keeps their names current."""
        await UserRepository(session).upsert(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            email=principal.email,
            first_name=principal.first_name,
            last_name=principal.last_name,
            name=principal.name,
        )

    async def ensure_known(
        self,
        factory: async_sessionmaker[AsyncSession],
        principal: Principal,
        known: dict[Principal, None],
        *,
        limit: int = 50_000,
    ) -> None:
        """Mirrors the caller on first sight (by these very claims), in a transaction of
        its own, and remembers them in `known` (a per-process set) once committed."""
        if principal in known:
            return
        async with factory() as session:
            await self.sync_principal(session, principal)
            await session.commit()
        if len(known) >= limit:
            known.clear()
        known[principal] = None


user_service = UserService()
