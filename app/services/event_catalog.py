"""The built-in event types of the five seeds, each with a pydantic schema for its `data`,
a label, an icon, a default importance and a summary template.

Built-ins live in code (not rows) so a schema change ships with the code that reads it;
tenants register their own types (JSON Schema) in the `event_types` table.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.enums import Importance

SUMMARY_LIMIT = 500
FIELD_IN_SUMMARY_LIMIT = 120


class Data(BaseModel):
    """Open data: the listed fields are type-checked, others are kept as sent."""

    model_config = ConfigDict(extra="allow", str_max_length=100_000)


class StrictData(Data):
    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


# --- seed 001: CRM timeline payloads -------------------------------------------------


class NoteData(Data):
    text: str = Field(min_length=1)
    mentions: list[str] = Field(default_factory=list, max_length=200)
    attachments: list[str] = Field(default_factory=list, max_length=200)


class EmailData(Data):
    subject: str
    from_: str | None = Field(default=None, alias="from")
    to: list[str] = Field(default_factory=list, max_length=500)
    cc: list[str] = Field(default_factory=list, max_length=500)
    body_preview: str | None = Field(default=None, max_length=2000)
    message_id: str | None = None
    thread_id: str | None = None
    sent_at: datetime | None = None


class CallData(Data):
    direction: Literal["inbound", "outbound"] | None = None
    duration_seconds: int | None = Field(default=None, ge=0)
    duration: int | None = Field(default=None, ge=0)
    outcome: str | None = None
    notes: str | None = None
    recording_url: str | None = None
    phone_number: str | None = None


class MeetingData(Data):
    title: str | None = None
    attendees: list[str] = Field(default_factory=list, max_length=500)
    duration_minutes: int | None = Field(default=None, ge=0)
    duration: int | None = Field(default=None, ge=0)
    location: str | None = None
    meeting_url: str | None = None
    outcome: str | None = None


class TaskCompletedData(Data):
    task_name: str | None = None
    assigned_to: str | None = None


class StatusChangeData(Data):
    field_name: str | None = None
    from_value: str | None = None
    to_value: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    automated: bool = False


class LeadConvertedData(Data):
    contact_id: str
    account_id: str
    deal_id: str | None = None
    converted_at: datetime | None = None


class DealWonData(Data):
    amount: Decimal | None = Field(default=None, ge=0)
    close_date: date | None = None


class DealLostData(Data):
    reason: str | None = None
    competitor: str | None = None


class FieldUpdatedData(Data):
    field_name: str
    old_value: Any = None
    new_value: Any = None


class FileAttachedData(Data):
    filename: str = Field(min_length=1)
    file_size: int | None = Field(default=None, ge=0)
    file_type: str | None = None


class ActivityTaskData(Data):
    title: str | None = None
    due_date: datetime | None = None


class CommentData(Data):
    text: str = Field(min_length=1)
    parent_id: str | None = None


# --- seed 000: projects, milestones, orders, tasks --------------------------------------


class ChangeData(Data):
    changed_fields: list[str] = Field(default_factory=list, max_length=500)


class ProjectStatusData(Data):
    from_status: str | None = None
    to_status: str | None = None


class MilestoneData(Data):
    milestone_id: str | None = None
    name: str | None = None
    progress: int | None = Field(default=None, ge=0, le=100)


class OrderShippedData(Data):
    tracking_number: str | None = None
    carrier: str | None = None
    estimated_delivery: date | None = None


class OrderData(Data):
    order_id: str | None = None
    amount: Decimal | None = None


class TaskData(Data):
    task_name: str | None = None
    assigned_to: str | None = None


@dataclass(frozen=True, slots=True)
class EventTypeSpec:
    key: str
    label: str
    category: str
    icon: str
    summary_template: str
    data_model: type[Data] = Data
    default_importance: Importance = Importance.normal
    description: str = ""

    def json_schema(self) -> dict[str, Any]:
        return self.data_model.model_json_schema(by_alias=True)


def _spec(
    key: str,
    label: str,
    category: str,
    icon: str,
    template: str,
    model: type[Data] = Data,
    importance: Importance = Importance.normal,
) -> EventTypeSpec:
    return EventTypeSpec(key, label, category, icon, template, model, importance)


_HIGH = Importance.high
BUILTIN: tuple[EventTypeSpec, ...] = (
    # seed 001 (CRM timeline)
    _spec("note", "Note", "crm", "📝", "Added note: {text}", NoteData),
    _spec("email", "Email", "crm", "📧", "Email: {subject}", EmailData),
    _spec("call", "Call", "crm", "📞", "Logged {direction} call: {outcome}", CallData),
    _spec("meeting", "Meeting", "crm", "📅", "Meeting: {title}", MeetingData),
    _spec("task", "Task", "crm", "🗒️", "Task: {title}", ActivityTaskData),
    _spec(
        "task_completed",
        "Task completed",
        "crm",
        "✅",
        "Completed task: {task_name}",
        TaskCompletedData,
    ),
    _spec(
        "status_change",
        "Status changed",
        "crm",
        "🔄",
        "Status changed from {from_value} to {to_value}",
        StatusChangeData,
    ),
    _spec(
        "lead_converted", "Lead converted", "crm", "🎯", "Lead converted", LeadConvertedData, _HIGH
    ),
    _spec("deal_won", "Deal won", "crm", "🏆", "Deal won: {amount}", DealWonData, _HIGH),
    _spec("deal_lost", "Deal lost", "crm", "❌", "Deal lost: {reason}", DealLostData, _HIGH),
    _spec(
        "field_updated",
        "Field updated",
        "crm",
        "✏️",
        "Changed {field_name} from {old_value} to {new_value}",
        FieldUpdatedData,
    ),
    _spec(
        "file_attached", "File attached", "crm", "📎", "Attached file: {filename}", FileAttachedData
    ),
    _spec("custom", "Custom event", "crm", "⭐", "Custom event"),
    _spec("comment", "Comment", "collaboration", "💬", "Commented: {text}", CommentData),
    # seed 000 (streams and milestones)
    _spec("project_created", "Project created", "project", "🏗️", "Project created: {name}"),
    _spec(
        "project_updated",
        "Project updated",
        "project",
        "🛠️",
        "Project updated: {changed_fields}",
        ChangeData,
    ),
    _spec(
        "project_status_changed",
        "Project status changed",
        "project",
        "🔄",
        "Project status changed to {to_status}",
        ProjectStatusData,
        _HIGH,
    ),
    _spec("project_member_added", "Member added", "project", "👤", "Member added: {user_id}"),
    _spec("project_member_removed", "Member removed", "project", "👤", "Member removed: {user_id}"),
    _spec("project_archived", "Project archived", "project", "🗄️", "Project archived"),
    _spec(
        "milestone_created",
        "Milestone created",
        "milestone",
        "🚩",
        "Milestone created: {name}",
        MilestoneData,
    ),
    _spec(
        "milestone_updated",
        "Milestone updated",
        "milestone",
        "🚩",
        "Milestone updated: {name}",
        MilestoneData,
    ),
    _spec(
        "milestone_started",
        "Milestone started",
        "milestone",
        "▶️",
        "Milestone started: {name}",
        MilestoneData,
    ),
    _spec(
        "milestone_progress_updated",
        "Milestone progress",
        "milestone",
        "📈",
        "Milestone {name} at {progress}%",
        MilestoneData,
    ),
    _spec(
        "milestone_completed",
        "Milestone completed",
        "milestone",
        "🏁",
        "Milestone completed: {name}",
        MilestoneData,
        _HIGH,
    ),
    _spec(
        "milestone_overdue",
        "Milestone overdue",
        "milestone",
        "⏰",
        "Milestone overdue: {name}",
        MilestoneData,
        _HIGH,
    ),
    _spec(
        "milestone_on_hold",
        "Milestone on hold",
        "milestone",
        "⏸️",
        "Milestone on hold: {name}",
        MilestoneData,
    ),
    _spec(
        "milestone_cancelled",
        "Milestone cancelled",
        "milestone",
        "🚫",
        "Milestone cancelled: {name}",
        MilestoneData,
        _HIGH,
    ),
    _spec(
        "milestone_deleted",
        "Milestone deleted",
        "milestone",
        "🗑️",
        "Milestone deleted: {name}",
        MilestoneData,
    ),
    _spec(
        "milestone_comment_added",
        "Milestone comment",
        "milestone",
        "💬",
        "Commented on {name}",
        MilestoneData,
    ),
    _spec(
        "milestone_dependency_added",
        "Dependency added",
        "milestone",
        "🔗",
        "Dependency added to {name}",
        MilestoneData,
    ),
    _spec(
        "milestone_dependency_removed",
        "Dependency removed",
        "milestone",
        "🔗",
        "Dependency removed from {name}",
        MilestoneData,
    ),
    _spec("order_created", "Order created", "order", "🧾", "Order created", OrderData),
    _spec("order_confirmed", "Order confirmed", "order", "👍", "Order confirmed", OrderData, _HIGH),
    _spec("order_paid", "Order paid", "order", "💳", "Order paid: {amount}", OrderData, _HIGH),
    _spec(
        "order_shipped",
        "Order shipped",
        "order",
        "🚚",
        "Order shipped via {carrier}",
        OrderShippedData,
    ),
    _spec("order_delivered", "Order delivered", "order", "📦", "Order delivered", OrderData),
    _spec("order_cancelled", "Order cancelled", "order", "🚫", "Order cancelled", OrderData, _HIGH),
    _spec(
        "order_refunded",
        "Order refunded",
        "order",
        "↩️",
        "Order refunded: {amount}",
        OrderData,
        _HIGH,
    ),
    _spec("task_created", "Task created", "task", "🗒️", "Task created: {task_name}", TaskData),
    _spec("task_updated", "Task updated", "task", "✏️", "Task updated: {task_name}", TaskData),
    _spec(
        "task_assigned",
        "Task assigned",
        "task",
        "👤",
        "Task {task_name} assigned to {assigned_to}",
        TaskData,
    ),
    _spec("task_deleted", "Task deleted", "task", "🗑️", "Task deleted: {task_name}", TaskData),
    # seed 002 (feed activity types)
    _spec("event", "Event", "feed", "📣", "{title}"),
    _spec("fast_start", "Fast Started", "feed", "🌅", "{fast_name} has started"),
    _spec("fast_join", "Joined Fast", "feed", "🤝", "You joined the {fast_name}"),
    _spec("fast_leave", "Left Fast", "feed", "👋", "You left the {fast_name}"),
    _spec("devotional_available", "Devotional Available", "feed", "📖", "New devotional: {title}"),
    _spec("milestone", "Milestone Reached", "feed", "🏅", "Milestone reached: {title}"),
    _spec("fast_reminder", "Fast Reminder", "feed", "⏰", "Reminder: {fast_name}"),
    _spec(
        "devotional_reminder", "Devotional Reminder", "feed", "🔔", "Devotional reminder: {title}"
    ),
)
BUILTIN_BY_KEY: Mapping[str, EventTypeSpec] = {spec.key: spec for spec in BUILTIN}


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise KeyError(key)


def _shorten(value: Any) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = str(value).replace("\n", " ").strip()
    return text if len(text) <= FIELD_IN_SUMMARY_LIMIT else text[: FIELD_IN_SUMMARY_LIMIT - 1] + "…"


def render_summary(template: str, data: Mapping[str, Any], fallback: str) -> str:
    """Fills `{field}` placeholders from the event's data. A template that names a field
    the data lacks (or is malformed) falls back to the type's label, never an error."""
    if not template:
        return fallback
    fields = _Fields(
        {k: _shorten(v) for k, v in data.items() if v is not None and v != "" and v != []}
    )
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        if any(not n.isidentifier() for n in names):
            return fallback
        rendered = template.format_map(fields)
    except (KeyError, ValueError, IndexError, AttributeError):
        return fallback
    return rendered[:SUMMARY_LIMIT]
