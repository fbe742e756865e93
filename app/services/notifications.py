"""Direct notifications (seed 002's reminders, generalised): an event addressed to a list
of users, or to every subscriber of a stream, delivered by the usual fan-out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.enums import StreamType
from app.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed
from app.result import Err, Ok, Result
from app.schemas.events import EventFields
from app.services.events import EventView, ObjectTarget, StreamTarget, Target, event_service

# Notifications addressed only to users live on one stream per tenant.
DIRECT_OBJECT = ("tidings.notifications", "direct")


@dataclass(frozen=True, slots=True)
class Notified:
    event: EventView


class NotificationService:
    async def notify(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        slug: str | None,
        fields: EventFields,
    ) -> Result[Notified, Forbidden | NotFound | ValidationFailed | InvalidState | Conflict]:
        if not actor.may_act_for_others:
            return Err(Forbidden("notifications need a service or admin token"))
        if slug is None and not fields.recipients:
            return Err(ValidationFailed.at(("user_ids",), "name users or a stream to notify"))
        target: Target = (
            StreamTarget(slug)
            if slug is not None
            else ObjectTarget(*DIRECT_OBJECT, StreamType.general, "Notifications")
        )
        recorded = await event_service.record(session, actor=actor, target=target, new=fields)
        if isinstance(recorded, Err):
            return recorded
        return Ok(Notified(recorded.data.event))


notification_service = NotificationService()
