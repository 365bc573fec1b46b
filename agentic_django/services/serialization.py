"""Turning handler results into JSON-ready data."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from ..core.exceptions import ResponseValidationError


def to_jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON data (dates, decimals, UUIDs, models become strings).

    Raises :class:`ResponseValidationError` for values JSON cannot represent.
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json.dumps(value, cls=_Encoder))
    except (TypeError, ValueError) as exc:
        raise ResponseValidationError(f"The result is not JSON-serialisable: {exc}") from exc


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        from pydantic import BaseModel

        if isinstance(o, BaseModel):
            return o.model_dump(mode="json")
        if isinstance(o, set | frozenset | tuple):
            return list(o)
        return super().default(o)
