from __future__ import annotations

import uuid
from datetime import date

from app.services.schedule import Task, critical_path

A, B, C, D, E, F = (uuid.UUID(int=n) for n in range(1, 7))
DEPS = {B: [A], C: [A], D: [B, C]}


def diamond(**a_changes: object) -> list[Task]:
    a = {
        "id": A,
        "name": "A",
        "status": "planned",
        "planned_start": date(2026, 3, 1),
        "planned_end": date(2026, 3, 5),
    }
    a.update(a_changes)
    return [
        Task(**a),  # type: ignore[arg-type]
        Task(B, "B", "planned", date(2026, 3, 6), date(2026, 3, 10)),
        Task(C, "C", "planned", date(2026, 3, 6), date(2026, 3, 8)),
        Task(D, "D", "planned", date(2026, 3, 11), date(2026, 3, 12)),
        Task(E, "E", "planned", date(2026, 3, 1), date(2026, 3, 10)),  # a separate chain
        Task(F, "F", "planned", None, None),  # no dates: reported, not guessed
    ]


def test_diamond_with_a_parallel_chain_and_an_unscheduled_milestone() -> None:
    result = critical_path(diamond(), DEPS, today=date(2026, 1, 1))
    by = {m.id: m for m in result.milestones}
    assert result.critical_path == [A, B, D]
    assert {n: by[n].total_float for n in (A, B, C, D, E)} == {A: 0, B: 0, C: 2, D: 0, E: 2}
    assert (by[C].earliest_start, by[C].latest_start) == (date(2026, 3, 6), date(2026, 3, 8))
    assert (by[A].latest_finish, by[D].earliest_finish) == (date(2026, 3, 5), date(2026, 3, 12))
    assert result.projected_end == result.deadline == date(2026, 3, 12)
    assert result.unscheduled == [F]
    assert not result.at_risk


def test_a_late_in_progress_milestone_puts_the_chain_at_risk() -> None:
    tasks = diamond(status="in_progress", actual_start=date(2026, 3, 1), progress=0)
    result = critical_path(tasks, DEPS, today=date(2026, 3, 3))
    by = {m.id: m for m in result.milestones}
    assert by[A].earliest_finish == date(2026, 3, 7)  # today + its whole 5 days
    assert by[D].earliest_finish == date(2026, 3, 14)
    assert result.projected_end == date(2026, 3, 14)
    assert result.at_risk
    assert [by[n].total_float for n in (A, B, D)] == [-2, -2, -2]
    assert result.critical_path == [A, B, D]
    assert not by[E].at_risk


def test_completed_milestones_keep_their_actual_dates() -> None:
    tasks = diamond(
        status="completed", actual_start=date(2026, 2, 20), actual_end=date(2026, 2, 25)
    )
    result = critical_path(tasks, DEPS, today=date(2026, 2, 26))
    by = {m.id: m for m in result.milestones}
    assert (by[A].earliest_start, by[A].earliest_finish) == (date(2026, 2, 20), date(2026, 2, 25))
    assert by[B].earliest_start == date(2026, 3, 6)  # its planned start, not earlier
    assert A not in result.critical_path


def test_unstarted_work_cannot_start_in_the_past() -> None:
    result = critical_path(diamond(), DEPS, today=date(2026, 3, 3))
    by = {m.id: m for m in result.milestones}
    assert by[A].earliest_start == date(2026, 3, 3)
    assert by[D].earliest_finish == date(2026, 3, 14)
    assert result.at_risk


def test_cancelled_and_empty_projects() -> None:
    only_cancelled = [Task(A, "A", "cancelled", date(2026, 1, 1), date(2026, 1, 2))]
    result = critical_path(only_cancelled, {}, today=date(2026, 1, 1))
    assert (result.milestones, result.critical_path, result.projected_end) == ([], [], None)
