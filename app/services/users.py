"""Users are mirrored from token claims so events can embed their actors."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

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


user_service = UserService()
