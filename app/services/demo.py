"""A small demo data set for `make run` (and the /demo page): project `alpha` with events,
comments and a milestone plan with dependencies, Grace following the project (so she gets
notifications), a CRM lead and an order with events. Loading twice changes nothing; each
part is checked on its own, so a database loaded by an earlier version gets what it lacks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.enums import Importance, StreamType
from app.models import Stream
from app.repositories.feeds import SubscriptionRepository
from app.repositories.milestones import MilestoneRepository
from app.repositories.streams import StreamRepository
from app.result import Err
from app.schemas.events import EventCreate
from app.schemas.milestones import MilestoneCreate
from app.services.events import ObjectTarget, event_service
from app.services.feeds import subscription_service
from app.services.milestones import milestone_service
from app.services.streams import stream_service
from app.services.users import user_service

DEMO_TENANT = "demo"
DEMO_PROJECT = "alpha"
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
ACTORS = {"ada": DEMO_ADMIN, "grace": DEMO_COLLEAGUE}

_EVENTS: list[tuple[str, str, str, dict[str, object], str, int]] = [
    # object_type, object_id, event_type, data, actor, hours ago
    ("project", "alpha", "project_created", {"name": "Commercial Building A"}, "ada", 72),
    ("project", "alpha", "project_updated", {"changed_fields": ["scope", "budget"]}, "grace", 50),
    ("project", "alpha", "comment", {"text": "Survey signed off, permits are in."}, "grace", 9),
    (
        "project",
        "alpha",
        "comment",
        {"text": "Great. Concrete pour for the east footing is booked for Thursday."},
        "ada",
        4,
    ),
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


@dataclass(frozen=True, slots=True)
class _Planned:
    """A milestone of the plan; days are relative to today."""

    key: str
    name: str
    start: int
    end: int
    after: tuple[str, ...] = ()
    priority: Literal["low", "medium", "high", "critical"] = "medium"
    assigned_to: str | None = None
    done_days: tuple[int, int] | None = None  # completed: actual start and end
    started_day: int | None = None  # in progress since
    progress: int = 0


_PLAN = [
    _Planned(
        "survey", "Site survey & permits", -24, -12, assigned_to="grace", done_days=(-24, -13)
    ),
    _Planned(
        "foundation",
        "Foundation",
        -11,
        4,
        after=("survey",),
        priority="high",
        assigned_to="ada",
        started_day=-11,
        progress=70,
    ),
    _Planned("frame", "Steel frame", 5, 22, after=("foundation",), priority="high"),
    _Planned("utilities", "Utilities rough-in", 8, 18, after=("foundation",), assigned_to="grace"),
    _Planned("envelope", "Facade & roofing", 23, 36, after=("frame", "utilities")),
]


async def load_demo(session: AsyncSession) -> int:
    """Returns how many events this call recorded (0 when already loaded)."""
    project = await StreamRepository(session).get_for_object(DEMO_TENANT, "project", DEMO_PROJECT)
    fresh = project is None
    if project is None:
        for user in ACTORS.values():
            await user_service.sync_principal(session, user)
        project = await stream_service.get_or_create_for_object(
            session,
            actor=DEMO_ADMIN,
            object_type="project",
            object_id=DEMO_PROJECT,
            stream_type=StreamType.project,
            name="Commercial Building A",
        )
    # Grace follows the project before anything is recorded, so its events reach her feed.
    await _follow(session, DEMO_COLLEAGUE, project)
    recorded = await _record_events(session) if fresh else 0
    if not await MilestoneRepository(session).project(DEMO_TENANT, DEMO_PROJECT):
        recorded += await _plan_milestones(session)
    return recorded


async def _follow(session: AsyncSession, user: Principal, stream: Stream) -> None:
    if not await SubscriptionRepository(session).follows(user.tenant_id, user.user_id, stream.id):
        await subscription_service.subscribe(
            session,
            actor=user,
            slug=stream.slug,
            subscription_type="follow",
            notify_email=False,
            notify_push=False,
            min_importance=Importance.low,
        )


async def _record_events(session: AsyncSession) -> int:
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


async def _plan_milestones(session: AsyncSession) -> int:
    """Creates the plan through the milestone service (as the API does); each action
    records two events (the milestone's stream and the project's). The service stamps
    actual dates with today; the demo's history happened earlier, so they are moved back."""
    today = datetime.now(UTC).date()
    ids: dict[str, uuid.UUID] = {}
    actions = 0

    def day(offset: int) -> date:
        return today + timedelta(days=offset)

    for planned in _PLAN:
        actor = ACTORS[planned.assigned_to or "ada"]
        new = MilestoneCreate(
            project_id=DEMO_PROJECT,
            name=planned.name,
            priority=planned.priority,
            planned_start_date=day(planned.start),
            planned_end_date=day(planned.end),
            assigned_to=planned.assigned_to,
            depends_on=[ids[key] for key in planned.after],
        )
        created = await milestone_service.create(session, actor=DEMO_ADMIN, new=new)
        if isinstance(created, Err):
            raise RuntimeError(f"demo milestone {planned.name!r} failed: {created.error}")
        milestone = created.data.milestone
        ids[planned.key] = milestone.id
        actions += 1
        if planned.done_days is None and planned.started_day is None:
            continue
        steps = [milestone_service.start]
        if planned.done_days is not None:
            steps.append(milestone_service.complete)
        for step in steps:
            done = await step(session, actor=actor, milestone_id=milestone.id)
            if isinstance(done, Err):
                raise RuntimeError(f"demo milestone {planned.name!r} failed: {done.error}")
            actions += 1
        if planned.progress:
            moved = await milestone_service.update_progress(
                session, actor=actor, milestone_id=milestone.id, progress=planned.progress
            )
            if isinstance(moved, Err):
                raise RuntimeError(f"demo milestone {planned.name!r} failed: {moved.error}")
            actions += 1
        if planned.done_days is not None:
            milestone.actual_start_date = day(planned.done_days[0])
            milestone.actual_end_date = day(planned.done_days[1])
        elif planned.started_day is not None:
            milestone.actual_start_date = day(planned.started_day)
    await session.flush()
    return 2 * actions
