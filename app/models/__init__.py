"""ORM tables; importing this package registers every table on `Base.metadata`."""

from app.models.activity import ActivityRollup
from app.models.base import Base
from app.models.event import Event, IdempotencyKey, Outbox
from app.models.event_type import EventType
from app.models.feed import FeedCounter, FeedItem
from app.models.milestone import Milestone, MilestoneComment, MilestoneDependency
from app.models.retention import JobLease, RetentionPolicy, RetiringPartition
from app.models.stream import Stream
from app.models.subscription import Subscription
from app.models.tenant import Tenant, User

__all__ = [
    "ActivityRollup",
    "Base",
    "Event",
    "EventType",
    "FeedCounter",
    "FeedItem",
    "IdempotencyKey",
    "JobLease",
    "Milestone",
    "MilestoneComment",
    "MilestoneDependency",
    "Outbox",
    "RetentionPolicy",
    "RetiringPartition",
    "Stream",
    "Subscription",
    "Tenant",
    "User",
]
