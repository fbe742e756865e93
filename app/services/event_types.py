"""Event types: the built-in catalogue plus each tenant's registered types, and the
validation of an event's data against its type's schema."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import Draft202012Validator, SchemaError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.enums import Importance
from app.errors import Conflict, FieldError, Forbidden, ValidationFailed
from app.ids import new_id
from app.models import EventType
from app.repositories.event_types import EventTypeRepository
from app.result import Err, Ok, Result
from app.schemas.event_types import EventTypeCreate
from app.services.event_catalog import BUILTIN, BUILTIN_BY_KEY, EventTypeSpec

Validate = Callable[[dict[str, Any]], list[FieldError]]


@dataclass(frozen=True, slots=True)
class ResolvedType:
    """What recording or displaying an event needs to know about its type."""

    key: str
    label: str
    icon: str
    category: str
    description: str
    summary_template: str
    default_importance: Importance
    builtin: bool
    data_schema: dict[str, Any]
    validate: Validate


def _pydantic_validator(spec: EventTypeSpec) -> Validate:
    def validate(data: dict[str, Any]) -> list[FieldError]:
        try:
            # JSON mode + strict: "300" is not an int, but ISO strings are datetimes.
            spec.data_model.model_validate_json(orjson.dumps(data), strict=True)
        except ValidationError as exc:
            return [
                FieldError(loc=("data", *err["loc"]), message=err["msg"], type=err["type"])
                for err in exc.errors(include_url=False)
            ]
        return []

    return validate


def _jsonschema_validator(schema: dict[str, Any]) -> Validate:
    validator = Draft202012Validator(schema)

    def validate(data: dict[str, Any]) -> list[FieldError]:
        errors = []
        for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
            loc: tuple[str | int, ...] = ("data", *err.absolute_path)
            if err.validator == "required" and isinstance(err.instance, dict):
                missing = [k for k in err.validator_value if k not in err.instance]
                loc = (*loc, missing[0]) if missing else loc
            errors.append(FieldError(loc=loc, message=err.message, type=str(err.validator)))
        return errors

    return validate


def _from_spec(spec: EventTypeSpec) -> ResolvedType:
    return ResolvedType(
        key=spec.key,
        label=spec.label,
        icon=spec.icon,
        category=spec.category,
        description=spec.description,
        summary_template=spec.summary_template,
        default_importance=spec.default_importance,
        builtin=True,
        data_schema=spec.json_schema(),
        validate=_pydantic_validator(spec),
    )


BUILTIN_RESOLVED: Mapping[str, ResolvedType] = {s.key: _from_spec(s) for s in BUILTIN}


def unknown_type(key: str) -> ResolvedType:
    """For displaying events whose tenant type has since disappeared."""
    return ResolvedType(
        key=key,
        label=key.replace("_", " ").capitalize(),
        icon="",
        category="custom",
        description="",
        summary_template="",
        default_importance=Importance.normal,
        builtin=False,
        data_schema={},
        validate=lambda _: [],
    )


class EventTypeService:
    def __init__(self) -> None:
        # Registered types never change (no update endpoint), so compiled validators
        # are cached by row id.
        self._validators: dict[uuid.UUID, Validate] = {}

    def _from_row(self, row: EventType) -> ResolvedType:
        validate = self._validators.get(row.id)
        if validate is None:
            validate = self._validators[row.id] = _jsonschema_validator(row.data_schema)
        return ResolvedType(
            key=row.key,
            label=row.label,
            icon=row.icon,
            category=row.category,
            description=row.description,
            summary_template=row.summary_template,
            default_importance=Importance(row.default_importance),
            builtin=False,
            data_schema=row.data_schema,
            validate=validate,
        )

    async def catalog(self, session: AsyncSession, tenant_id: str) -> list[ResolvedType]:
        rows = await EventTypeRepository(session).all(tenant_id)
        return [*BUILTIN_RESOLVED.values(), *(self._from_row(r) for r in rows)]

    async def resolve(
        self, session: AsyncSession, tenant_id: str, keys: Iterable[str]
    ) -> dict[str, ResolvedType]:
        """Types by key; keys that name no type are simply absent from the answer."""
        wanted = set(keys)
        found = {k: BUILTIN_RESOLVED[k] for k in wanted if k in BUILTIN_RESOLVED}
        custom = sorted(wanted - found.keys())
        if custom:
            rows = await EventTypeRepository(session).get_many(tenant_id, custom)
            found.update((k, self._from_row(r)) for k, r in rows.items())
        return found

    async def labels(
        self,
        open_session: async_sessionmaker[AsyncSession],
        tenant_id: str,
        keys: Iterable[str],
    ) -> dict[str, str]:
        """Display labels by key (keys that name no type are absent): built-in types from
        memory, so a hot read opens a session only when tenant types are involved."""
        wanted = set(keys)
        labels = {k: BUILTIN_RESOLVED[k].label for k in wanted if k in BUILTIN_RESOLVED}
        if wanted - labels.keys():
            async with open_session() as session:
                found = await self.resolve(session, tenant_id, wanted - labels.keys())
            labels.update((k, t.label) for k, t in found.items())
        return labels

    async def register(
        self, session: AsyncSession, *, actor: Principal, new: EventTypeCreate
    ) -> Result[ResolvedType, Forbidden | Conflict | ValidationFailed]:
        if not actor.is_admin:
            return Err(Forbidden("registering event types needs the admin role"))
        if new.key in BUILTIN_BY_KEY:
            return Err(Conflict(f"{new.key!r} is a built-in event type", {"key": new.key}))
        try:
            Draft202012Validator.check_schema(new.data_schema)
        except SchemaError as exc:
            loc = ("data_schema", *exc.absolute_path)
            return Err(ValidationFailed.at(loc, f"not a valid JSON Schema: {exc.message}"))
        if new.data_schema.get("type", "object") != "object":
            return Err(ValidationFailed.at(("data_schema", "type"), "event data is an object"))
        row = await EventTypeRepository(session).insert(
            {
                "id": new_id(),
                "tenant_id": actor.tenant_id,
                "key": new.key,
                "label": new.label,
                "description": new.description,
                "icon": new.icon,
                "category": new.category,
                "summary_template": new.summary_template,
                "default_importance": int(Importance.parse(new.default_importance)),
                "data_schema": new.data_schema,
                "created_by": actor.user_id,
            }
        )
        if row is None:
            return Err(Conflict(f"event type {new.key!r} already exists", {"key": new.key}))
        return Ok(self._from_row(row))


event_type_service = EventTypeService()
