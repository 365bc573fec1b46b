"""One JSON error shape for every failure of the agent API.

``{"status": "error", "error": "<message>", "code": "<code>", "errors": {...}}``,
where ``errors`` carries per-field messages for validation failures.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def first_message(detail: Any) -> str:
    """The first message of a DRF error detail, prefixed with its field name."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            return f"{key}: {first_message(value)}"
    if isinstance(detail, list) and detail:
        return first_message(detail[0])
    return str(detail)


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """The agent API's error body for a DRF exception (views and consumers alike)."""
    if isinstance(exc, exceptions.ValidationError):
        return {
            "status": "error",
            "error": "Invalid request: " + first_message(exc.detail),
            "code": "invalid_request",
            "errors": exc.detail,
        }
    codes = exc.get_codes()
    return {
        "status": "error",
        "error": first_message(exc.detail),
        "code": codes if isinstance(codes, str) else "error",
    }


def agent_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped into the agent API's error body."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        response.data = error_body(exc)
    else:
        response.data = {"status": "error"}
    return response
