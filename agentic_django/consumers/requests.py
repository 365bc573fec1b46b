"""Validating an intent sent to a consumer, with the same rules as the HTTP API."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions

from ..api.serializers import IntentRequestSerializer
from ..api.views import _validate_params
from ..registry import AgentEndpointDef


def intent_arguments(endpoint: AgentEndpointDef, data: Any) -> dict[str, Any]:
    """``raw``, ``session_id`` and ``params`` for ``start_run``; raises DRF's ValidationError."""
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    serializer = IntentRequestSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    valid = serializer.validated_data
    return {
        "raw": valid["intent"],
        "session_id": valid.get("session_id") or None,
        "params": _validate_params(endpoint, valid.get("params")),
    }
