"""How the admin site shows values: seed 000's importance badges and coloured indicators,
status badges, progress bars, overdue indicators, read tracking and threading."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from markupsafe import Markup
from starlette.requests import Request

from app.enums import Importance

Formatter = Callable[[Any, str], Markup]
LinkFormatter = Callable[[Any, str, Request], Markup]

IMPORTANCE_COLOURS = {1: "secondary", 2: "blue", 3: "orange", 4: "red"}
STATUS_COLOURS = {
    "planned": "secondary",
    "in_progress": "blue",
    "on_hold": "yellow",
    "completed": "green",
    "cancelled": "dark",
}
PRIORITY_COLOURS = {"low": "secondary", "medium": "azure", "high": "orange", "critical": "red"}
OPEN_STATUSES = ("planned", "in_progress", "on_hold")


def badge(text: str, colour: str, **data: str) -> Markup:
    attributes = Markup("").join(Markup(' data-{}="{}"').format(k, v) for k, v in data.items())
    return Markup('<span class="badge bg-{0}-lt text-{0}"{1}>{2}</span>').format(
        colour, attributes, text
    )


def importance_name(value: int) -> str:
    try:
        return Importance(value).name
    except ValueError:
        return str(value)


def importance(attribute: str) -> Formatter:
    """A coloured dot and badge: low grey, normal blue, high orange, critical red."""

    def format_(obj: Any, _: str) -> Markup:
        value = int(getattr(obj, attribute))
        colour = IMPORTANCE_COLOURS.get(value, "secondary")
        return Markup(
            '<span class="status-dot status-{0} me-1" aria-hidden="true"></span>{1}'
        ).format(colour, badge(importance_name(value), colour, importance=importance_name(value)))

    return format_


def coloured(attribute: str, colours: dict[str, str], kind: str) -> Formatter:
    """A badge whose colour tells the value (`data-<kind>` names it for scripts and tests)."""

    def format_(obj: Any, _: str) -> Markup:
        value = getattr(obj, attribute)
        if value is None:
            return Markup("")
        text = str(value)
        return badge(text.replace("_", " "), colours.get(text, "secondary"), **{kind: text})

    return format_


def plain_badge(attribute: str) -> Formatter:
    def format_(obj: Any, _: str) -> Markup:
        value = getattr(obj, attribute)
        return Markup("") if value is None else badge(str(value), "secondary")

    return format_


def flag(attribute: str, yes: tuple[str, str], no: tuple[str, str]) -> Formatter:
    """A boolean as a labelled badge: (text, colour) for true and for false."""

    def format_(obj: Any, _: str) -> Markup:
        text, colour = yes if getattr(obj, attribute) else no
        return badge(text, colour)

    return format_


def progress(obj: Any, _: str) -> Markup:
    value = max(0, min(100, int(obj.progress)))
    colour = "green" if value == 100 else "blue" if value else "secondary"
    return Markup(
        '<div class="d-flex align-items-center gap-2" style="min-width: 8rem">'
        '<div class="progress progress-sm flex-grow-1">'
        '<div class="progress-bar bg-{0}" style="width: {1}%" role="progressbar" '
        'aria-valuenow="{1}" aria-valuemin="0" aria-valuemax="100" '
        'aria-label="{1}% complete"></div></div>'
        '<span class="text-secondary small">{1}%</span></div>'
    ).format(colour, value)


def is_overdue(obj: Any, today: date | None = None) -> bool:
    today = today or datetime.now(UTC).date()
    end = obj.planned_end_date
    return end is not None and end < today and obj.status in OPEN_STATUSES


def due(obj: Any, _: str) -> Markup:
    """The planned end, red with an overdue badge once it has passed while still open."""
    end = obj.planned_end_date
    if end is None:
        return Markup('<span class="text-secondary">no date</span>')
    if is_overdue(obj):
        days = (datetime.now(UTC).date() - end).days
        return Markup('<span class="text-red">{0}</span> {1}').format(
            end.isoformat(), badge(f"overdue {days} d", "red", overdue="true")
        )
    return Markup("{0}").format(end.isoformat())


def when(attribute: str, never: str) -> Formatter:
    """A moment, or a badge saying it has not happened (read tracking: `never read`)."""

    def format_(obj: Any, _: str) -> Markup:
        value = getattr(obj, attribute)
        if value is None:
            return badge(never, "secondary")
        return Markup('<time datetime="{0}">{1}</time>').format(
            value.isoformat(), value.strftime("%Y-%m-%d %H:%M")
        )

    return format_


def money(attribute: str) -> Formatter:
    def format_(obj: Any, _: str) -> Markup:
        value = getattr(obj, attribute)
        return Markup("") if value is None else Markup("{0:,.2f}").format(value)

    return format_


def link(attribute: str, identity: str, label: str | None = None) -> LinkFormatter:
    """A row's reference to another as a link to its page in the admin."""

    def format_(obj: Any, _: str, request: Request) -> Markup:
        value = getattr(obj, attribute)
        if value is None:
            return Markup('<span class="text-secondary">{0}</span>').format(label or "none")
        url = request.url_for("admin:details", identity=identity, pk=str(value))
        return Markup('<a href="{0}">{1}</a>').format(url, str(value)[:13] + "…")

    return format_


def stream_of(obj: Any, _: str, request: Request) -> Markup:
    """The row's stream by name, linking to its page (the slug in the tooltip)."""
    stream = obj.stream
    if stream is None:
        return Markup('<span class="text-secondary">none</span>')
    url = request.url_for("admin:details", identity="stream", pk=str(stream.id))
    name = stream.name if len(stream.name) <= 24 else stream.name[:23] + "…"
    return Markup('<a href="{0}" title="{1} ({2})">{3}</a>').format(
        url, stream.name, stream.slug, name
    )


def moment(value: datetime) -> Markup:
    """Any timestamp, to the minute (the full value in the tooltip)."""
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(
        value.isoformat(), value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    )


def day(value: date) -> Markup:
    return Markup("{0}").format(value.isoformat())


def reply_to(obj: Any, _: str, request: Request) -> Markup:
    """Threading: a reply links to the comment it answers; a thread's first comment says so."""
    if obj.parent_id is None:
        return badge("thread start", "secondary", thread="start")
    url = request.url_for("admin:details", identity="milestone-comment", pk=str(obj.parent_id))
    return Markup('<a href="{0}" data-thread="reply">↳ reply</a>').format(url)


def edited(obj: Any, _: str) -> Markup:
    """Edit tracking: when a comment was last edited, if it was."""
    if not obj.is_edited:
        return Markup('<span class="text-secondary">original</span>')
    at = obj.edited_at.strftime("%Y-%m-%d %H:%M") if obj.edited_at else ""
    return Markup("{0} {1}").format(badge("edited", "purple", edited="true"), at)


def shortened(attribute: str, limit: int = 80) -> Formatter:
    def format_(obj: Any, _: str) -> Markup:
        value = str(getattr(obj, attribute) or "")
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return Markup('<span title="{0}">{1}</span>').format(value[:1000], text)

    return format_
