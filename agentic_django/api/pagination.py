"""Pagination of the agent API's lists: DRF's limit/offset, strict about its parameters."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

#: The furthest a client may page (a larger offset is refused, not sent to the database).
MAX_OFFSET = 1_000_000


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """``?limit=`` (1 to ``max_limit``) and ``?offset=`` (0 to ``MAX_OFFSET``).

    DRF's own class quietly falls back to its defaults on a bad value; an API
    client that sent ``?offset=-1`` or ``?limit=10**30`` is told with a 400
    instead, and no out-of-range number reaches the database (SQLite answers an
    offset beyond 64 bits with an OverflowError).
    """

    default_limit = 50
    max_limit = 200

    def get_limit(self, request: Request) -> int:
        return _bounded(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _bounded(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.limit_query_param,
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
            {
                "name": self.offset_query_param,
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            },
        ]


def _bounded(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["Must be an integer."]}) from None
    if not low <= value <= high:
        raise exceptions.ValidationError({name: [f"Must be between {low} and {high}."]})
    return value
