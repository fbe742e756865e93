"""Retention (seeds 001, 002, 004): how long feed items and events are kept, per tenant
and type, and the jobs that expire and archive what is past it (docs/retention.md).

Every batch is one transaction; feed items leave the counters in the statement that
removes them; a job runs alone (a lease in `job_leases`: a second one skips); a month's
partition that is past every policy goes whole (detached, then dropped or archived)
instead of row by row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.errors import FieldError, Forbidden, ValidationFailed
from app.logging import log
from app.models import RetentionPolicy, RetiringPartition
from app.repositories.event_types import EventTypeRepository
from app.repositories.partitions import ARCHIVES
from app.repositories.retention import (
    DELETED_BEFORE,
    OF_TYPE_BEFORE,
    Partition,
    RetentionRepository,
)
from app.result import Err, Ok, Result
from app.services.event_types import BUILTIN_RESOLVED

# Seed 002's RETENTION_POLICY, in days; a type it does not name falls back to its
# category's entry (`milestone_started` is kept like `milestone`), then to the default.
FEED_DEFAULTS: Mapping[str, int] = {
    "fast_reminder": 30,
    "devotional_reminder": 30,
    "fast_start": 90,
    "fast_join": 180,
    "fast_leave": 180,
    "devotional_available": 90,
    "milestone": 365,
    "event": 180,
}
FEED_DEFAULT_DAYS = 180
DELETED_GRACE_DAYS = 30  # seed 001: soft-deleted events are removed after this
ARCHIVE_EVENTS_AFTER_DAYS = 730  # seed 001: events older than two years are archived
MAX_DAYS = 36_500
BATCH_USERS = 500  # a batch holds its users' counter cells until it commits
BATCH_EVENTS = 5_000
LEASE = timedelta(minutes=10)
PARTITION_LOCK_MS = 5_000
OUTBOX_KEEP = timedelta(days=7)
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Policy:
    """A tenant's effective policy: its overrides over the defaults."""

    feed_overrides: Mapping[str, int] = field(default_factory=dict)
    feed_default_days: int = FEED_DEFAULT_DAYS
    event_days: Mapping[str, int] = field(default_factory=dict)
    deleted_grace_days: int = DELETED_GRACE_DAYS
    archive_events_after_days: int = ARCHIVE_EVENTS_AFTER_DAYS
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: RetentionPolicy | None) -> Policy:
        if row is None:
            return cls()
        return cls(
            feed_overrides={k: int(v) for k, v in (row.feed_days or {}).items()},
            feed_default_days=row.feed_default_days or FEED_DEFAULT_DAYS,
            event_days={k: int(v) for k, v in (row.event_days or {}).items()},
            deleted_grace_days=row.deleted_grace_days or DELETED_GRACE_DAYS,
            archive_events_after_days=row.archive_events_after_days or ARCHIVE_EVENTS_AFTER_DAYS,
            updated_at=row.updated_at,
        )

    def feed_days(self, activity_type: str) -> int:
        if activity_type in self.feed_overrides:
            return self.feed_overrides[activity_type]
        if activity_type in FEED_DEFAULTS:
            return FEED_DEFAULTS[activity_type]
        known = BUILTIN_RESOLVED.get(activity_type)
        if known is not None and known.category in FEED_DEFAULTS:
            return FEED_DEFAULTS[known.category]
        return self.feed_default_days

    def longest_feed_days(self) -> int:
        return max([*FEED_DEFAULTS.values(), *self.feed_overrides.values(), self.feed_default_days])


@dataclass(slots=True)
class Removed:
    """What a job removed (or, dry, would remove), per tenant and type."""

    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    partitions: list[str] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)
    outbox: int = 0
    skipped: bool = False
    failed: dict[str, str] = field(default_factory=dict)  # tenant or table -> what went wrong

    def add(self, tenant_id: str, kind: str, n: int) -> None:
        if n:
            self.rows[(tenant_id, kind)] = self.rows.get((tenant_id, kind), 0) + n

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _validate_days(loc: tuple[str | int, ...], value: Any) -> list[FieldError]:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool):
        return [FieldError(loc=loc, message="a whole number of days", type="int_type")]
    if not 1 <= value <= MAX_DAYS:
        return [FieldError(loc=loc, message=f"between 1 and {MAX_DAYS} days", type="out_of_range")]
    return []


class RetentionService:
    # --- policy ---------------------------------------------------------------------

    async def policy(self, session: AsyncSession, tenant_id: str) -> Policy:
        return Policy.of(await RetentionRepository(session).policy(tenant_id))

    async def policy_for(
        self, session: AsyncSession, *, actor: Principal
    ) -> Result[Policy, Forbidden]:
        if not actor.is_admin:
            return Err(Forbidden("the retention policy is for admins"))
        return Ok(await self.policy(session, actor.tenant_id))

    async def known_types(self, session: AsyncSession, tenant_id: str) -> set[str]:
        tenant_types = await EventTypeRepository(session).all(tenant_id)
        return {*BUILTIN_RESOLVED, *(t.key for t in tenant_types)}

    async def set_policy(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        feed_overrides: Mapping[str, int],
        feed_default_days: int | None,
        event_days: Mapping[str, int],
        deleted_grace_days: int | None,
        archive_events_after_days: int | None,
    ) -> Result[Policy, Forbidden | ValidationFailed]:
        """Replaces the tenant's overrides (PUT): what is left out is the default again."""
        if not actor.is_admin:
            return Err(Forbidden("the retention policy is for admins"))
        known = await self.known_types(session, actor.tenant_id)
        errors: list[FieldError] = []
        for section, overrides in (("feed", feed_overrides), ("events", event_days)):
            name = "overrides" if section == "feed" else "keep_days"
            for key, days in overrides.items():
                loc: tuple[str | int, ...] = (section, name, key)
                if key not in known:
                    errors.append(
                        FieldError(loc=loc, message=f"unknown type {key!r}", type="unknown_type")
                    )
                errors.extend(_validate_days(loc, days))
        errors.extend(_validate_days(("feed", "default_days"), feed_default_days))
        errors.extend(_validate_days(("events", "deleted_grace_days"), deleted_grace_days))
        errors.extend(_validate_days(("events", "archive_after_days"), archive_events_after_days))
        if errors:
            return Err(ValidationFailed(message=errors[0].message, errors=tuple(errors)))
        row = await RetentionRepository(session).save_policy(
            {
                "tenant_id": actor.tenant_id,
                "feed_days": dict(feed_overrides),
                "feed_default_days": feed_default_days,
                "event_days": dict(event_days),
                "deleted_grace_days": deleted_grace_days,
                "archive_events_after_days": archive_events_after_days,
            }
        )
        return Ok(Policy.of(row))

    # --- running alone ----------------------------------------------------------------

    async def _lease(
        self, factory: async_sessionmaker[AsyncSession], name: str, holder: str
    ) -> bool:
        async with factory() as session, session.begin():
            return await RetentionRepository(session).take_lease(
                name, holder, datetime.now(UTC) + LEASE
            )

    async def _release(
        self, factory: async_sessionmaker[AsyncSession], name: str, holder: str
    ) -> None:
        async with factory() as session, session.begin():
            await RetentionRepository(session).give_back_lease(name, holder)

    # --- feed cleanup -----------------------------------------------------------------

    async def cleanup(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        dry_run: bool = False,
        activity_type: str | None = None,
        older_than_days: int | None = None,
        archive: bool = False,
        now: datetime | None = None,
        progress: Progress | None = None,
    ) -> Removed:
        """Seed 002's `cleanup_old_items` (and, `archive`, `archive_old_items`): every
        tenant's feed items past their type's retention (or older than `older_than_days`),
        whole month partitions first, then row by row; also soft-deleted events past
        their grace, events past their type's keep, and processed outbox rows. A dry run
        counts exactly what a run would remove and changes nothing."""
        now = now or datetime.now(UTC)
        job = "archive-feed" if archive else "cleanup-feed"
        holder = uuid.uuid4().hex
        removed = Removed()
        if not dry_run and not await self._lease(factory, job, holder):
            log.info("retention.skipped", job=job, reason="another run holds the lease")
            removed.skipped = True
            return removed
        try:
            # months a crashed run left half retired come first
            await self._finish_retiring(factory, removed, dry_run=dry_run)
            async with factory() as session:
                repo = RetentionRepository(session)
                policies = {p.tenant_id: Policy.of(p) for p in await repo.policies()}
                pairs = await repo.feed_tenants_and_types()
                partitions = await repo.partitions("feed_items")
            if activity_type is not None:
                pairs = [(t, a) for t, a in pairs if a == activity_type]
            # each tenant's types with their cutoffs: one pass over a tenant's old rows
            rules: dict[str, dict[str, datetime]] = {}
            for tenant_id, kind in pairs:
                days = older_than_days or policies.get(tenant_id, Policy()).feed_days(kind)
                rules.setdefault(tenant_id, {})[kind] = now - timedelta(days=days)

            taken: list[str] = []  # the months that go whole (a dry run counts them once)
            if activity_type is None:
                longest = older_than_days or max(
                    [
                        Policy().longest_feed_days(),
                        *(p.longest_feed_days() for p in policies.values()),
                    ]
                )
                whole = [p for p in partitions if p.hi <= now - timedelta(days=longest)]
                for n, partition in enumerate(whole, 1):
                    if await self._expire_partition(
                        factory, partition, removed, dry_run=dry_run, archive=archive
                    ):
                        taken.append(partition.name)
                    if not dry_run:
                        await self._lease(factory, job, holder)
                    if progress:
                        progress("partitions", n, len(whole))
            for n, (tenant_id, cutoffs) in enumerate(rules.items(), 1):
                await self._expire_rows(
                    factory,
                    tenant_id,
                    cutoffs,
                    removed,
                    dry_run=dry_run,
                    archive=archive,
                    whole=taken,
                )
                if not dry_run:
                    await self._lease(factory, job, holder)
                if progress:
                    progress("feed items", n, len(rules))
            if not archive and activity_type is None:
                await self._expire_events(factory, policies, now, removed, dry_run=dry_run)
                if not dry_run:
                    removed.outbox = await self._prune_outbox(factory, now - OUTBOX_KEEP)
        finally:
            if not dry_run:
                await self._release(factory, job, holder)
        log.info(
            "retention.done",
            job=job,
            dry_run=dry_run,
            items=removed.total,
            partitions=removed.partitions,
            events=sum(removed.events.values()),
        )
        return removed

    async def _expire_partition(
        self,
        factory: async_sessionmaker[AsyncSession],
        partition: Partition,
        removed: Removed,
        *,
        dry_run: bool,
        archive: bool,
    ) -> bool:
        """A month everything in which is past retention leaves the feed at once: under a
        lock of the feed held only for the detach (waiting at most PARTITION_LOCK_MS, else
        the month is left to the row batches), it is detached and renamed; then its rows
        come off the counters a batch of users at a time, and it is dropped or attached
        to the archive (`_retire`). Whether it went (or, dry, would go) whole."""
        archived_month = partition.name.replace("feed_items", ARCHIVES["feed_items"], 1)
        if dry_run:
            async with factory() as session:
                repo = RetentionRepository(session)
                if archive and await repo.has_partition(archived_month):
                    return False  # as below: its rows would go one by one
                counts = await repo.partition_counts(partition.name)
            removed.partitions.append(partition.name)
            for tenant_id, kind, n in counts:
                removed.add(tenant_id, kind, n)
            return True
        try:
            async with factory() as session, session.begin():
                repo = RetentionRepository(session)
                if archive and await repo.has_partition(archived_month):
                    return False  # the archive has that month already: its rows go one by one
                await repo.lock_feed(PARTITION_LOCK_MS)
                if not await repo.is_partition_of("feed_items", partition.name):
                    return False  # another run (cleanup beside archive) took it meanwhile
                retiring = (await repo.retire("feed_items", partition, archive=archive)).name
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            log.warning("retention.partition_busy", partition=partition.name)
            return False
        await self._retire(factory, retiring, removed)
        return True

    async def _finish_retiring(
        self, factory: async_sessionmaker[AsyncSession], removed: Removed, *, dry_run: bool
    ) -> None:
        """Months a crashed run left half retired: finished from where it stopped (or,
        dry, what is left of them counted)."""
        async with factory() as session:
            repo = RetentionRepository(session)
            rows = await repo.retiring()
            if dry_run:
                for row in rows:
                    removed.partitions.append(row.partition)
                    for tenant_id, kind, n in await repo.count_retiring_left(row):
                        removed.add(tenant_id, kind, n)
                return
        for row in rows:
            log.info("retention.resuming", table=row.name)
            await self._retire(factory, row.name, removed)

    async def _retire(
        self, factory: async_sessionmaker[AsyncSession], name: str, removed: Removed
    ) -> None:
        """Takes a detached month's rows off the counters, a committed batch of users at a
        time (the place kept, so a crash resumes), then drops or archives the month. Until
        it is done the counters still count those (expired) items."""
        while True:
            try:
                async with factory() as session, session.begin():
                    repo = RetentionRepository(session)
                    row = await session.get(RetiringPartition, name, with_for_update=True)
                    if row is None:
                        return  # another run finished it
                    counts = await repo.uncount_retiring(row, BATCH_USERS)
                    if counts is None:
                        await repo.finish_retiring(row, lock_timeout_ms=PARTITION_LOCK_MS)
                        removed.partitions.append(row.partition)
                        return
            except DBAPIError as exc:
                # That batch rolled back whole; the month stays retiring, for the next run
                # to carry on with, and the rest of this run goes ahead.
                busy = getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE
                log.error("retention.retiring_failed", table=name, busy=busy, error=str(exc))
                removed.failed[name] = str(exc.orig or exc)
                return
            for tenant_id, kind, n in counts:
                removed.add(tenant_id, kind, n)

    async def _expire_rows(
        self,
        factory: async_sessionmaker[AsyncSession],
        tenant_id: str,
        cutoffs: dict[str, datetime],
        removed: Removed,
        *,
        dry_run: bool,
        archive: bool,
        whole: Sequence[str] = (),
    ) -> None:
        """A tenant's feed items past their type's cutoff, a committed batch of users at a
        time, every type in the one pass over the batch's old rows. (`whole`: the months a
        dry run counted as going whole, which a real run would have detached by now.)"""
        if dry_run:
            async with factory() as session:
                counts = await RetentionRepository(session).count_expired_feed(
                    tenant_id, cutoffs, whole=whole
                )
            for kind, n in counts.items():
                removed.add(tenant_id, kind, n)
            return
        async with factory() as session:
            if not await RetentionRepository(session).has_expired_feed(tenant_id, cutoffs):
                return  # no walk through every user's batch to find nothing
        if archive:
            async with factory() as session, session.begin():
                await RetentionRepository(session).ensure_archive_months(
                    "feed_items", "created_at", tenant_id, max(cutoffs.values())
                )
        after = ""
        while True:
            async with factory() as session, session.begin():
                repo = RetentionRepository(session)
                users = await repo.next_users(tenant_id, list(cutoffs), after, BATCH_USERS)
                if not users:
                    return
                counts = await repo.expire_feed(
                    tenant_id, cutoffs, after=after, last=users[-1], archive=archive
                )
            for kind, n in counts.items():
                removed.add(tenant_id, kind, n)
            after = users[-1]

    async def _expire_events(
        self,
        factory: async_sessionmaker[AsyncSession],
        policies: Mapping[str, Policy],
        now: datetime,
        removed: Removed,
        *,
        dry_run: bool,
    ) -> None:
        async with factory() as session:
            tenants = await RetentionRepository(session).event_tenants()
        for tenant_id in tenants:
            policy = policies.get(tenant_id, Policy())
            rules: list[tuple[str, str, dict[str, Any]]] = [
                (
                    "deleted",
                    DELETED_BEFORE,
                    {"before": now - timedelta(days=policy.deleted_grace_days)},
                )
            ]
            rules.extend(
                (
                    f"events:{kind}",
                    OF_TYPE_BEFORE,
                    {"event_type": kind, "before": now - timedelta(days=days)},
                )
                for kind, days in sorted(policy.event_days.items())
            )
            for label, which, params in rules:
                if dry_run:
                    async with factory() as session:
                        n = await RetentionRepository(session).count_deletable_events(
                            tenant_id, which, params
                        )
                    if n:
                        removed.events[f"{tenant_id}:{label}"] = n
                    continue
                while True:
                    async with factory() as session, session.begin():
                        events, items = await RetentionRepository(session).delete_events(
                            tenant_id, which, params, limit=BATCH_EVENTS
                        )
                    if events:
                        key = f"{tenant_id}:{label}"
                        removed.events[key] = removed.events.get(key, 0) + events
                        removed.add(tenant_id, "(items of removed events)", items)
                    if events < BATCH_EVENTS:
                        break

    async def _prune_outbox(
        self, factory: async_sessionmaker[AsyncSession], before: datetime
    ) -> int:
        total = 0
        while True:
            async with factory() as session, session.begin():
                n = await RetentionRepository(session).prune_outbox(before, BATCH_EVENTS)
            total += n
            if n < BATCH_EVENTS:
                return total

    # --- archiving events ---------------------------------------------------------------

    async def archive_events(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        older_than_days: int | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> Removed:
        """Seed 001's archive: events older than each tenant's archive age (two years by
        default) move to `events_archive`, a batch per transaction."""
        now = now or datetime.now(UTC)
        holder = uuid.uuid4().hex
        removed = Removed()
        if not dry_run and not await self._lease(factory, "archive-events", holder):
            removed.skipped = True
            return removed
        try:
            async with factory() as session:
                repo = RetentionRepository(session)
                policies = {p.tenant_id: Policy.of(p) for p in await repo.policies()}
                tenants = await repo.event_tenants()
            for tenant_id in tenants:
                days = (
                    older_than_days or policies.get(tenant_id, Policy()).archive_events_after_days
                )
                cutoff = now - timedelta(days=days)
                if dry_run:
                    async with factory() as session:
                        n = await RetentionRepository(session).count_archivable_events(
                            tenant_id, cutoff
                        )
                    removed.add(tenant_id, "events", n)
                    continue
                try:
                    await self._archive_tenant_events(factory, tenant_id, cutoff, removed)
                except DBAPIError as exc:
                    # One tenant's failed batch (rolled back whole) does not stop the others.
                    log.error("retention.archive_failed", tenant=tenant_id, error=str(exc))
                    removed.failed[tenant_id] = str(exc.orig or exc)
        finally:
            if not dry_run:
                await self._release(factory, "archive-events", holder)
        return removed

    async def _archive_tenant_events(
        self,
        factory: async_sessionmaker[AsyncSession],
        tenant_id: str,
        cutoff: datetime,
        removed: Removed,
    ) -> None:
        async with factory() as session, session.begin():
            await RetentionRepository(session).ensure_archive_months(
                "events", "occurred_at", tenant_id, cutoff
            )
        while True:
            async with factory() as session, session.begin():
                n = await RetentionRepository(session).archive_events(
                    tenant_id, cutoff, BATCH_EVENTS
                )
            removed.add(tenant_id, "events", n)
            if n < BATCH_EVENTS:
                return


retention_service = RetentionService()
