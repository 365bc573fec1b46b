"""Read-only ORM tools: an agent queries a Django model through structured arguments only.

A model must never write SQL or choose ORM lookups: a prompt-injected agent would
then read whatever the database user can. These tools accept only the filters,
orderings and fields the developer listed, typed from the model's fields, and every
query starts from a queryset built for the calling user (row-level scoping). Only
``filter``/``order_by``/``values``/``count`` are called, so no write is possible,
and rows come back as JSON values, never model instances.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import models
from django.utils import timezone

from agentic_django.core.exceptions import PermissionDenied, ToolError
from agentic_django.runtime.tools import ToolContext

#: Field names refused unless ``allow_sensitive=True`` — checked on every field a path
#: passes through and on the column it finally reads (``auth_token`` on a user reads the
#: token's ``key``): even filtering on them (``password__startswith``) leaks their content.
SENSITIVE_FIELD_PATTERN: Final = re.compile(
    r"(^|_)(password|passwd|pwd|secret|token|tokens|key|keys|hash|salt|otp|totp"
    r"|credential|credentials|session_data|private)($|_)",
    re.IGNORECASE,
)
#: Models refused as the tool's model or anywhere along a path, unless
#: ``allow_sensitive=True``: credentials, sessions and permissions.
SENSITIVE_MODELS: Final = frozenset(
    {
        "authtoken.token",
        "authtoken.tokenproxy",
        "sessions.session",
        "auth.permission",
        "admin.logentry",
        "otp_static.statictoken",
        "otp_totp.totpdevice",
    }
)
_SENSITIVE_MODEL_NAME: Final = re.compile(r"token|secret|credential|apikey|api_key", re.I)


def is_sensitive_model(model: type[models.Model]) -> bool:
    """A model holding credentials, sessions or permissions (see ``SENSITIVE_MODELS``)."""
    meta = model._meta
    return meta.label_lower in SENSITIVE_MODELS or bool(
        _SENSITIVE_MODEL_NAME.search(meta.model_name or "")
    )


def _sensitive(field: Any) -> bool:
    name = getattr(field, "name", "") or ""
    return bool(SENSITIVE_FIELD_PATTERN.search(name))


#: Lookups a tool may offer. ``regex`` is left out: a pattern from the model could be
#: catastrophically slow, and plain comparisons cover what an agent needs.
SUPPORTED_LOOKUPS: Final = frozenset(
    {"exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith"}
    | {"iendswith", "in", "range", "gt", "gte", "lt", "lte", "isnull"}
)
TEXT_LOOKUPS: Final = frozenset(
    {"iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)
#: Caps an ``in`` list so one call cannot build an enormous query.
MAX_IN_VALUES: Final = 100
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what every provider accepts

QuerySetFactory = Callable[[ToolContext], "models.QuerySet[Any] | Awaitable[models.QuerySet[Any]]"]


class _Default(enum.Enum):
    PERMISSION = "default"


#: The ``permission`` default: ``"<app_label>.view_<model_name>"``, Django's view permission.
DEFAULT_PERMISSION: Final = _Default.PERMISSION


#: JSON schema per field class, most specific first (DateTimeField is a DateField).
_SCHEMAS: Final[tuple[tuple[Any, dict[str, str]], ...]] = (
    (models.BooleanField, {"type": "boolean"}),
    (models.IntegerField, {"type": "integer"}),
    ((models.FloatField, models.DecimalField), {"type": "number"}),
    (models.DateTimeField, {"type": "string", "format": "date-time"}),
    (models.DateField, {"type": "string", "format": "date"}),
    (models.TimeField, {"type": "string", "format": "time"}),
    (models.UUIDField, {"type": "string", "format": "uuid"}),
)


def _value_schema(field: Any) -> dict[str, Any]:
    schema = next((s for cls, s in _SCHEMAS if isinstance(field, cls)), {"type": "string"})
    return dict(schema)


def _has_json_type(value: Any, json_type: str) -> bool:
    if json_type == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):  # bool is an int in Python, never in JSON schema
        return False
    if json_type == "integer":
        return isinstance(value, int)
    if json_type == "number":
        return isinstance(value, int | float)
    return isinstance(value, str)


@dataclass(frozen=True, slots=True)
class _Filter:
    key: str
    lookup: str
    field: Any
    many_valued: bool

    def schema(self) -> dict[str, Any]:
        if self.lookup == "isnull":
            return {"type": "boolean"}
        if self.lookup in ("in", "range"):
            size = (1, MAX_IN_VALUES) if self.lookup == "in" else (2, 2)
            items = _value_schema(self.field)
            return {"type": "array", "items": items, "minItems": size[0], "maxItems": size[1]}
        return _value_schema(self.field)

    def coerce(self, value: Any) -> Any:
        schema = self.schema()
        if schema["type"] != "array":
            return self._one(value, schema)
        low, high = schema["minItems"], schema["maxItems"]
        if not isinstance(value, list) or not low <= len(value) <= high:
            raise ToolError(f"Filter {self.key!r} expects an array of {low} to {high} values")
        return [self._one(item, schema["items"]) for item in value]

    def _one(self, value: Any, schema: dict[str, Any]) -> Any:
        if not _has_json_type(value, schema["type"]):
            expected = schema["type"] + (f" ({schema['format']})" if "format" in schema else "")
            article = "an" if expected[0] in "aeiou" else "a"
            raise ToolError(
                f"Filter {self.key!r} expects {article} {expected}, "
                f"got {type(value).__name__} {value!r}"
            )
        if self.lookup == "isnull":
            return value
        try:
            coerced = self.field.to_python(value)
        except ValidationError as exc:
            raise ToolError(f"Filter {self.key!r}: {' '.join(exc.messages)}") from None
        if isinstance(coerced, datetime.datetime) and settings.USE_TZ:
            # A bare date means midnight in the current time zone, as in Django forms.
            return coerced if timezone.is_aware(coerced) else timezone.make_aware(coerced)
        return coerced


def _resolve(model: type[models.Model], path: str, *, allow_sensitive: bool) -> tuple[Any, bool]:
    """The field ``path`` ends at (a relation: the field it joins on) and if it fans out."""
    current: Any = model
    field: Any = None
    many_valued = False
    visited: list[Any] = []
    for segment in path.split("__"):
        if current is None:
            raise ImproperlyConfigured(f"{path!r}: {field.name!r} is not a relation")
        try:
            field = current._meta.pk if segment == "pk" else current._meta.get_field(segment)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(
                f"{path!r}: {current.__name__} has no field {segment!r}"
            ) from None
        visited.append(field)
        many_valued = many_valued or bool(field.many_to_many or field.one_to_many)
        current = field.related_model if field.is_relation else None
        if current is not None and not allow_sensitive and is_sensitive_model(current):
            raise ImproperlyConfigured(
                f"{path!r} reaches the sensitive model {current._meta.label}; pass "
                "allow_sensitive=True to expose it anyway"
            )
    if field.is_relation:
        if current is None:  # a GenericForeignKey: no single table to join
            raise ImproperlyConfigured(f"{path!r} is a generic relation, which is not supported")
        field = field.target_field
        visited.append(field)
    if not allow_sensitive and any(_sensitive(step) for step in visited):
        raise ImproperlyConfigured(
            f"{path!r} names a sensitive field; pass allow_sensitive=True to expose it anyway"
        )
    return field, many_valued


class QuerySetTool:
    """A read-only search over a queryset, offered to the agentic loop as a :class:`Tool`.

    ``queryset`` is a ``QuerySet`` (cloned per call) or a callable ``(ToolContext) ->
    QuerySet`` (sync or async; ``model=`` is then required) that scopes rows to the
    caller. It must stay lazy: it runs inside the event loop. ``permission`` is checked
    with ``user.has_perm`` before every call and defaults to Django's view permission;
    ``None`` disables the check, so anonymous callers get through and the queryset
    callable alone decides what they see. Paths through a field matching
    ``SENSITIVE_FIELD_PATTERN`` (any segment, and the column a relation finally
    reads) or reaching a sensitive model (``SENSITIVE_MODELS``: tokens, sessions,
    permissions), and tools over such a model, are refused unless
    ``allow_sensitive=True``.
    """

    def __init__(
        self,
        name: str,
        queryset: models.QuerySet[Any] | models.Manager[Any] | QuerySetFactory,
        *,
        model: type[models.Model] | None = None,
        fields: Sequence[str],
        filters: Mapping[str, Sequence[str]] | None = None,
        orderings: Sequence[str] = (),
        max_rows: int = 50,
        permission: str | _Default | None = DEFAULT_PERMISSION,
        description: str = "",
        requires_approval: bool = False,
        capabilities: Iterable[str] = ("read",),
        allow_sensitive: bool = False,
    ) -> None:
        if isinstance(queryset, models.Manager):
            queryset = queryset.all()
        if isinstance(queryset, models.QuerySet):
            if model is not None and model is not queryset.model:
                raise ImproperlyConfigured(f"Tool {name!r}: model= differs from queryset.model")
            model = queryset.model
        elif not callable(queryset):
            raise ImproperlyConfigured(f"Tool {name!r}: queryset must be a QuerySet or a callable")
        elif model is None:
            raise ImproperlyConfigured(f"Tool {name!r}: pass model= with a queryset callable")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise ImproperlyConfigured(f"Tool name {name!r} must match {_TOOL_NAME.pattern}")
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise ImproperlyConfigured(f"Tool {name!r}: max_rows must be an integer >= 1")
        if isinstance(fields, str) or not fields:
            raise ImproperlyConfigured(f"Tool {name!r}: fields must be a non-empty list of names")
        self.model: type[models.Model] = model
        self.name = name
        self._queryset = queryset
        self._max_rows = max_rows
        self.requires_approval = requires_approval
        self.capabilities = frozenset(capabilities)
        meta = model._meta
        if permission is DEFAULT_PERMISSION:
            permission = f"{meta.app_label}.view_{meta.model_name}"
        self.permission: str | None = permission
        if not allow_sensitive and is_sensitive_model(model):
            raise ImproperlyConfigured(
                f"Tool {name!r}: {meta.label} holds credentials, sessions or permissions; "
                "pass allow_sensitive=True to expose it anyway"
            )
        try:
            self._fields = self._check_paths(fields, allow_sensitive, "field")
            self._orderings = self._check_paths(
                [o.removeprefix("-") for o in orderings], allow_sensitive, "ordering"
            )
            self._filters = self._check_filters(filters or {}, allow_sensitive)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(f"Tool {name!r}: {exc}") from None
        self.description = description or (
            f"Search {meta.verbose_name_plural} (read-only). Returns the fields "
            f"{', '.join(self._fields)}; at most {max_rows} rows per call."
        )

    def _check_paths(self, paths: Sequence[str], allow_sensitive: bool, kind: str) -> list[str]:
        for path in paths:
            if _resolve(self.model, path, allow_sensitive=allow_sensitive)[1]:
                raise ImproperlyConfigured(
                    f"{kind} {path!r} crosses a many-valued relation, which would repeat rows"
                )
        return list(dict.fromkeys(paths))

    def _check_filters(
        self, filters: Mapping[str, Sequence[str]], allow_sensitive: bool
    ) -> dict[str, _Filter]:
        checked: dict[str, _Filter] = {}
        for path, lookups in filters.items():
            if isinstance(lookups, str):
                raise ImproperlyConfigured(f"filter {path!r}: give a list of lookups, not a string")
            field, many_valued = _resolve(self.model, path, allow_sensitive=allow_sensitive)
            for lookup in lookups:
                if lookup not in SUPPORTED_LOOKUPS or field.get_lookup(lookup) is None:
                    raise ImproperlyConfigured(
                        f"filter {path!r}: unknown lookup {lookup!r}; "
                        f"supported: {', '.join(sorted(SUPPORTED_LOOKUPS))}"
                    )
                if lookup in TEXT_LOOKUPS and not isinstance(
                    field, models.CharField | models.TextField
                ):
                    raise ImproperlyConfigured(f"filter {path!r}: {lookup!r} needs a text field")
                key = path if lookup == "exact" else f"{path}__{lookup}"
                if key in checked:
                    raise ImproperlyConfigured(f"filter {key!r} is declared twice")
                checked[key] = _Filter(key, lookup, field, many_valued)
        return checked

    @property
    def order_by_choices(self) -> list[str]:
        return [form for o in self._orderings for form in (o, f"-{o}")]

    @property
    def definition(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        if self._filters:
            properties["filters"] = {
                "type": "object",
                "description": "Conditions, all of which must hold; 'field' alone means equals.",
                "properties": {key: f.schema() for key, f in self._filters.items()},
                "additionalProperties": False,
            }
        if self._orderings:
            properties["order_by"] = {
                "type": "string",
                "enum": self.order_by_choices,
                "description": "Sort field; a leading '-' sorts descending.",
            }
        properties["limit"] = {"type": "integer", "minimum": 1, "maximum": self._max_rows}
        properties["count_only"] = {
            "type": "boolean",
            "description": "Return only the number of matching rows.",
        }
        parameters = {"type": "object", "properties": properties, "additionalProperties": False}
        return {"name": self.name, "description": self.description, "parameters": parameters}

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext | None = None) -> Any:
        """``{"count", "rows", "truncated"}`` (only ``{"count"}`` with ``count_only``)."""
        context = context or ToolContext()
        await self._check_permission(context)
        lookups, distinct, order_by, limit, count_only = self._parse(arguments)
        queryset = (await self._base_queryset(context)).filter(**lookups)
        if distinct:  # a filter across a many-valued relation would repeat rows
            queryset = queryset.distinct()
        total = await queryset.acount()
        if count_only:
            return {"count": total}
        # A pk tie-break keeps the truncated page stable from one call to the next.
        if order_by:
            queryset = queryset.order_by(order_by, "pk")
        elif not queryset.ordered:
            queryset = queryset.order_by("pk")
        rows = [
            {key: _json_value(value) for key, value in row.items()}
            async for row in queryset.values(*self._fields)[:limit]
        ]
        return {"count": total, "rows": rows, "truncated": total > len(rows)}

    async def _check_permission(self, context: ToolContext) -> None:
        if self.permission is None:
            return
        user = context.user
        if user is not None and getattr(user, "is_authenticated", False):
            check = getattr(user, "ahas_perm", None)  # Django >= 5.2
            if check is not None:
                allowed = await check(self.permission)
            else:
                allowed = await sync_to_async(user.has_perm)(self.permission)
            if allowed:
                return
        # Not a ToolError: the loop still reports it to the model as an error result.
        raise PermissionDenied(
            f"Permission denied: tool {self.name!r} requires the {self.permission!r} permission"
        )

    def _parse(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], bool, str, int, bool]:
        allowed = list(self.definition["parameters"]["properties"])
        if not isinstance(arguments, Mapping):
            raise ToolError(f"Arguments must be an object with keys: {', '.join(allowed)}")
        unknown = [key for key in arguments if key not in allowed]
        if unknown:
            raise ToolError(f"Unknown argument {unknown[0]!r}; allowed: {', '.join(allowed)}")
        filters = arguments.get("filters") or {}
        if not isinstance(filters, Mapping):
            raise ToolError("'filters' must be an object")
        lookups: dict[str, Any] = {}
        for key, value in filters.items():
            if key not in self._filters:
                known = ", ".join(self._filters) or "none"
                raise ToolError(f"Unknown filter {key!r}; allowed filters: {known}")
            lookups[key] = self._filters[key].coerce(value)
        distinct = any(self._filters[key].many_valued for key in lookups)
        order_by = arguments.get("order_by") or ""
        if order_by and order_by not in self.order_by_choices:
            choices = ", ".join(self.order_by_choices) or "none"
            raise ToolError(f"Invalid order_by {order_by!r}; allowed: {choices}")
        limit = arguments.get("limit", self._max_rows)
        if not _has_json_type(limit, "integer") or not 1 <= limit <= self._max_rows:
            raise ToolError(f"limit must be an integer from 1 to {self._max_rows}, got {limit!r}")
        count_only = arguments.get("count_only", False)
        if not isinstance(count_only, bool):
            raise ToolError(f"count_only must be a boolean, got {count_only!r}")
        return lookups, distinct, order_by, limit, count_only

    async def _base_queryset(self, context: ToolContext) -> models.QuerySet[Any]:
        source = self._queryset
        if isinstance(source, models.QuerySet):
            return source.all()
        queryset = source(context)
        if inspect.isawaitable(queryset):
            queryset = await queryset
        if isinstance(queryset, models.Manager):
            queryset = queryset.all()
        if not isinstance(queryset, models.QuerySet) or not issubclass(queryset.model, self.model):
            raise ImproperlyConfigured(
                f"Tool {self.name!r}: the queryset callable must return a {self.model.__name__} "
                f"QuerySet, got {queryset!r}"
            )
        return queryset

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} on {self.model.__name__}>"


class ModelTool(QuerySetTool):
    """A :class:`QuerySetTool` over a whole model, named ``<model_name>_search`` by default.

    Pass ``queryset=`` (a callable of the :class:`ToolContext`) to scope rows per caller;
    otherwise every row of ``model._default_manager`` is searchable by permitted users.
    """

    def __init__(
        self,
        model: type[models.Model],
        *,
        name: str | None = None,
        queryset: QuerySetFactory | None = None,
        **options: Any,
    ) -> None:
        """``options`` are :class:`QuerySetTool`'s keywords: ``fields``, ``filters``…"""
        super().__init__(
            name or f"{model._meta.model_name}_search",
            queryset if queryset is not None else model._default_manager.all(),
            model=model,
            **options,
        )


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return value
