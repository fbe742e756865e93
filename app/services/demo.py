"""A small demo data set for `make run`: a project, a CRM lead and an order with events.
Loading twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.repositories.streams import StreamRepository
from app.schemas.events import EventCreate
from app.services.events import ObjectTarget, event_service
from app.services.users import user_service

DEMO_TENANT = "demo"
DEMO_ADMIN = Principal(
    tenant_id=DEMO_TENANT,
    user_id="ada",
    roles=frozenset({"admin"}),
    email="ada@example.com",
    first_name="Ada",
    last_name="Lovelace",
)
DEMO_COLLEAGUE = Principal(
    tenant_id=DEMO_TENANT,
    user_id="grace",
    email="grace@example.com",
    first_name="Grace",
    last_name="Hopper",
)

_EVENTS: list[tuple[str, str, str, dict[str, object], str, int]] = [
    # object_type, object_id, event_type, data, actor, hours ago
    ("project", "alpha", "project_created", {"name": "Commercial Building A"}, "ada", 72),
    ("project", "alpha", "project_updated", {"changed_fields": ["scope", "budget"]}, "grace", 50),
    ("project", "alpha", "milestone_started", {"name": "Foundation"}, "ada", 30),
    (
        "crm.lead",
        "acme",
        "note",
        {"text": "Follow up call scheduled", "mentions": ["@grace"]},
        "grace",
        26,
    ),
    (
        "crm.lead",
        "acme",
        "call",
        {
            "direction": "outbound",
            "duration_seconds": 300,
            "outcome": "successful",
            "notes": "Discussed pricing",
        },
        "ada",
        5,
    ),
    (
        "crm.lead",
        "acme",
        "email",
        {"subject": "Proposal for Acme", "from": "ada@example.com", "to": ["buyer@acme.test"]},
        "ada",
        2,
    ),
    ("order", "1001", "order_created", {"order_id": "1001", "amount": 1250}, "grace", 20),
    ("order", "1001", "order_shipped", {"tracking_number": "1Z999", "carrier": "UPS"}, "grace", 1),
]


async def load_demo(session: AsyncSession) -> int:
    """Returns how many events this call recorded (0 when already loaded)."""
    if await StreamRepository(session).get_for_object(DEMO_TENANT, "project", "alpha"):
        return 0
    for user in (DEMO_ADMIN, DEMO_COLLEAGUE):
        await user_service.sync_principal(session, user)
    now = datetime.now(UTC)
    items = []
    for n, (object_type, object_id, event_type, data, actor, hours) in enumerate(_EVENTS):
        body = EventCreate(
            object_type=object_type,
            object_id=object_id,
            event_type=event_type,
            data=data,
            actor_id=actor,
            occurred_at=now - timedelta(hours=hours),
            idempotency_key=f"demo-{n}",
        )
        items.append((ObjectTarget(object_type, object_id), body))
    result = await event_service.record_batch(session, actor=DEMO_ADMIN, items=items)
    if not result.success:
        raise RuntimeError(f"demo data failed to load: {result.error}")
    return sum(not r.replayed for r in result.data)
