from __future__ import annotations

import pytest

from app.services.event_catalog import BUILTIN, BUILTIN_BY_KEY, render_summary
from app.services.event_types import BUILTIN_RESOLVED


def test_summary_fills_fields_from_data() -> None:
    assert (
        render_summary("Added note: {text}", {"text": "Call back"}, "Note")
        == "Added note: Call back"
    )


@pytest.mark.parametrize(
    "template", ["Added note: {text}", "{0}", "{text.upper}", "{text", "{text!r:>{width}}"]
)
def test_summary_falls_back_to_label_when_template_cannot_render(template: str) -> None:
    assert render_summary(template, {}, "Note") == "Note"


def test_long_fields_are_shortened_in_summaries() -> None:
    summary = render_summary("Added note: {text}", {"text": "x" * 1000}, "Note")
    assert len(summary) < 200
    assert summary.endswith("…")


def test_every_seed_type_is_built_in() -> None:
    seed_001 = {
        "note",
        "email",
        "call",
        "meeting",
        "task_completed",
        "status_change",
        "lead_converted",
        "deal_won",
        "deal_lost",
        "field_updated",
        "file_attached",
        "custom",
    }
    seed_002 = {
        "event",
        "fast_start",
        "fast_join",
        "fast_leave",
        "devotional_available",
        "milestone",
        "fast_reminder",
        "devotional_reminder",
    }
    seed_000 = {
        "project_created",
        "project_updated",
        "project_status_changed",
        "milestone_created",
        "milestone_started",
        "milestone_completed",
        "order_created",
        "order_paid",
        "order_shipped",
        "order_confirmed",
        "task_created",
        "task_assigned",
        "task_completed",
    }
    assert seed_000 | seed_001 | seed_002 <= set(BUILTIN_BY_KEY)
    assert len(BUILTIN) == len(BUILTIN_BY_KEY)


def test_note_data_is_validated_with_field_paths() -> None:
    errors = BUILTIN_RESOLVED["note"].validate({"mentions": "@jane"})
    assert {e.loc for e in errors} == {("data", "text"), ("data", "mentions")}


def test_strict_types_refuse_numeric_strings_but_accept_iso_dates() -> None:
    call = BUILTIN_RESOLVED["call"]
    assert [e.loc for e in call.validate({"duration_seconds": "300"})] == [
        ("data", "duration_seconds")
    ]
    assert call.validate({"duration_seconds": 300, "outcome": "ok"}) == []
    email = BUILTIN_RESOLVED["email"]
    assert email.validate({"subject": "Hi", "sent_at": "2024-01-15T10:30:00Z"}) == []
    assert [e.loc for e in email.validate({"subject": "Hi", "sent_at": "yesterday"})] == [
        ("data", "sent_at")
    ]


def test_open_types_keep_unknown_fields() -> None:
    assert BUILTIN_RESOLVED["custom"].validate({"anything": {"nested": [1, 2]}}) == []
