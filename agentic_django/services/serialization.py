"""Turning handler results and audit data into storable JSON (see :mod:`..core.storable`)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from pydantic import BaseModel

from ..conf import agentic_settings
from ..core.storable import Limits, check_storable, coerce_storable


def limits() -> Limits:
    """The configured depth and size limits of a stored or returned value."""
    return Limits(
        max_depth=agentic_settings.MAX_RESULT_DEPTH, max_chars=agentic_settings.MAX_RESULT_CHARS
    )


def to_jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON data (dates, decimals, UUIDs, models become strings).

    Raises :class:`~agentic_django.core.storable.UnstorableValue` (a
    ``ResponseValidationError``) for values that cannot be stored or sent.
    """
    return check_storable(value, limits=limits(), default=_encode)


def to_storable(value: Any, *, bounded: bool = True) -> Any:
    """``value`` as plain JSON data for the audit trail; never fails (bad parts replaced).

    ``bounded=False`` keeps values of any size (an action awaiting approval must run
    with all of its data), still replacing what cannot be stored.
    """
    chosen = limits() if bounded else replace(limits(), max_chars=sys.maxsize)
    return coerce_storable(value, limits=chosen, default=_encode)


_django_encoder = DjangoJSONEncoder()


def _encode(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    return _django_encoder.default(value)
