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


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return f"{key}: {_first_message(value)}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def agent_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped into the agent API's error body."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body: dict[str, Any] = {"status": "error"}
    if isinstance(exc, exceptions.ValidationError):
        body["error"] = "Invalid request: " + _first_message(exc.detail)
        body["code"] = "invalid_request"
        body["errors"] = exc.detail
    elif isinstance(exc, exceptions.APIException):
        body["error"] = _first_message(exc.detail)
        codes = exc.get_codes()
        body["code"] = codes if isinstance(codes, str) else "error"
    response.data = body
    return response
