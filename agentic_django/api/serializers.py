"""Request validation for agent endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..conf import agentic_settings


class StrictCharField(serializers.CharField):
    """A ``CharField`` that refuses numbers and booleans instead of stringifying them."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class IntentRequestSerializer(serializers.Serializer):
    """``{"intent": str, "session_id": str | null, "params": object}``."""

    intent = StrictCharField(trim_whitespace=True, allow_blank=False)
    session_id = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=64)
    params = serializers.DictField(required=False)

    def validate_intent(self, value: str) -> str:
        limit = agentic_settings.MAX_INTENT_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(
                f"The intent is {len(value)} characters long; the limit is {limit}."
            )
        return value
