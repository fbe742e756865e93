"""The critical path method over a project's milestone DAG (pure functions, no I/O).

Durations come from planned dates (inclusive days). The forward pass gives each milestone
its earliest start and finish: completed ones keep their actual dates, in-progress ones
finish at today plus their remaining share, the rest start at the latest of their planned
start, today and their dependencies' finish. The backward pass runs from the plan's
deadline (the latest planned end), so total float = latest finish - earliest finish; a
negative float means that deadline cannot be met (at risk). Milestones without both
planned dates are reported as unscheduled, never guessed.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class Task:
    id: uuid.UUID
    name: str
    status: str
    planned_start: date | None
    planned_end: date | None
    actual_start: date | None = None
    actual_end: date | None = None
    progress: int = 0


@dataclass(frozen=True, slots=True)
class Scheduled:
    id: uuid.UUID
    name: str
    status: str
    duration_days: int
    earliest_start: date
    earliest_finish: date
    latest_start: date
    latest_finish: date
    total_float: int
    critical: bool
    at_risk: bool


@dataclass(frozen=True, slots=True)
class CriticalPath:
    milestones: list[Scheduled]
    critical_path: list[uuid.UUID]
    projected_end: date | None
    deadline: date | None
    at_risk: bool
    unscheduled: list[uuid.UUID]


def _topological(
    ids: Sequence[uuid.UUID], preds: Mapping[uuid.UUID, list[uuid.UUID]]
) -> list[uuid.UUID]:
    remaining = {i: len(preds.get(i, [])) for i in ids}
    succs: dict[uuid.UUID, list[uuid.UUID]] = {}
    for node in ids:
        for p in preds.get(node, []):
            succs.setdefault(p, []).append(node)
    ready = [i for i in ids if remaining[i] == 0]
    order: list[uuid.UUID] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for s in succs.get(node, []):
            remaining[s] -= 1
            if remaining[s] == 0:
                ready.append(s)
    return order


def critical_path(
    tasks: Sequence[Task], depends_on: Mapping[uuid.UUID, Sequence[uuid.UUID]], today: date
) -> CriticalPath:
    def scheduled(t: Task) -> bool:
        if t.status == "completed" and t.actual_end is not None:
            return (t.actual_start or t.planned_start) is not None
        return t.planned_start is not None and t.planned_end is not None

    by_id = {t.id: t for t in tasks if t.status != "cancelled"}
    graph = {i: t for i, t in by_id.items() if scheduled(t)}
    unscheduled = [i for i in by_id if i not in graph]
    preds = {i: [p for p in depends_on.get(i, []) if p in graph] for i in graph}
    order = _topological(list(graph), preds)

    # Day numbers: date ordinals, finishes exclusive (a one-day task starting d ends d+1).
    es: dict[uuid.UUID, int] = {}
    ef: dict[uuid.UUID, int] = {}
    duration: dict[uuid.UUID, int] = {}
    now = today.toordinal()
    for node in order:
        t = graph[node]
        after = max((ef[p] for p in preds[node]), default=-math.inf)
        if t.status == "completed" and t.actual_end is not None:
            start = (t.actual_start or t.planned_start or t.actual_end).toordinal()
            es[node], ef[node] = start, t.actual_end.toordinal() + 1
            duration[node] = ef[node] - es[node]
            continue
        assert t.planned_start is not None
        assert t.planned_end is not None
        length = (t.planned_end - t.planned_start).days + 1
        duration[node] = length
        if t.status == "in_progress":
            begun = (t.actual_start or t.planned_start).toordinal()
            es[node] = begun
            ef[node] = max(now + math.ceil(length * (100 - t.progress) / 100), begun + 1)
        else:
            es[node] = int(max(t.planned_start.toordinal(), now, after))
            ef[node] = es[node] + length

    if not graph:
        return CriticalPath([], [], None, None, False, unscheduled)
    deadline = max(
        (t.planned_end.toordinal() + 1 for t in graph.values() if t.planned_end is not None),
        default=max(ef.values()),
    )
    succs: dict[uuid.UUID, list[uuid.UUID]] = {}
    for node, ps in preds.items():
        for p in ps:
            succs.setdefault(p, []).append(node)
    lf: dict[uuid.UUID, int] = {}
    ls: dict[uuid.UUID, int] = {}
    for node in reversed(order):
        lf[node] = min((ls[s] for s in succs.get(node, [])), default=deadline)
        ls[node] = lf[node] - (ef[node] - es[node])
    floats = {n: lf[n] - ef[n] for n in graph}
    # The critical chain: the unfinished milestones with the least float (0 when the
    # projection meets the deadline exactly, negative when it cannot).
    open_nodes = [n for n in graph if graph[n].status != "completed"]
    least = min((floats[n] for n in open_nodes), default=0)
    critical = {n for n in open_nodes if floats[n] == least}
    path = sorted(critical, key=lambda n: (es[n], ef[n]))
    results = [
        Scheduled(
            id=n,
            name=graph[n].name,
            status=graph[n].status,
            duration_days=duration[n],
            earliest_start=date.fromordinal(es[n]),
            earliest_finish=date.fromordinal(ef[n]) - timedelta(days=1),
            latest_start=date.fromordinal(ls[n]),
            latest_finish=date.fromordinal(lf[n]) - timedelta(days=1),
            total_float=floats[n],
            critical=n in critical,
            at_risk=floats[n] < 0,
        )
        for n in order
    ]
    return CriticalPath(
        milestones=results,
        critical_path=path,
        projected_end=date.fromordinal(max(ef.values())) - timedelta(days=1),
        deadline=date.fromordinal(deadline) - timedelta(days=1),
        at_risk=any(r.at_risk for r in results),
        unscheduled=unscheduled,
    )
