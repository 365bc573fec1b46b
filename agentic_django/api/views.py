"""Async DRF views of the agent API. Each view validates input and calls one service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adrf.views import APIView
from asgiref.sync import sync_to_async
from django.http import HttpResponseBase
from pydantic import ValidationError as PydanticValidationError
from rest_framework import exceptions, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from ..conf import agentic_settings
from ..core.files import UploadedFile, UploadedFiles
from ..registry import AgentEndpointDef, NotRegistered, agents
from ..services import health, pipeline, runs
from ..services.capabilities import describe_endpoints
from .errors import PayloadTooLarge, agent_exception_handler
from .openapi import build_openapi_document
from .parsers import BoundedJSONParser
from .policies import AgentPolicyMixin
from .serializers import IntentRequestSerializer


class AgentAPIView(AgentPolicyMixin, APIView):
    """Base view: agent error shape and settings-driven DRF policies."""

    parser_classes = [BoundedJSONParser]
    # Described by our own document (api/openapi.py), merged into a drf-spectacular
    # schema by api/spectacular.py; DRF's and spectacular's discovery skip these views.
    schema = None

    def get_exception_handler(self) -> Any:
        return agent_exception_handler


class EndpointView(AgentAPIView):
    """``POST /agents/<name>/``: run an intent through one agent endpoint."""

    parser_classes = [BoundedJSONParser, MultiPartParser]
    site = agents

    @property
    def endpoint(self) -> AgentEndpointDef | None:
        try:
            return self.site.get(self.kwargs["name"])
        except NotRegistered:
            return None

    def endpoint_policy(self, kind: str) -> Sequence[type] | None:
        endpoint = self.endpoint
        if endpoint is None:
            return None
        return getattr(endpoint, f"{kind}_classes")

    async def post(self, request: Request, name: str) -> HttpResponseBase:
        endpoint = self.endpoint
        if endpoint is None:
            raise exceptions.NotFound(f"No agent endpoint named {name!r}.")
        _reject_oversized_body(request)
        serializer = IntentRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        params = _validate_params(endpoint, data.get("params"))
        arguments = {
            "user": request.user,
            "session_id": data.get("session_id") or None,
            "files": _uploaded_files(request),
            "request": request,
            "params": params,
        }
        if endpoint.streaming is not None:
            # Its handler expects a stream: run it as one; answer when it ends or
            # as soon as it asks a person (202, the run waits for the decision).
            awaited = await runs.run_and_wait(self.site, endpoint, data["intent"], **arguments)
            answer = awaited.response()
            if isinstance(answer, HttpResponseBase):
                return answer
            return Response(awaited.body(), status=awaited.status_code)
        outcome = await pipeline.process_intent(self.site, endpoint, data["intent"], **arguments)
        if isinstance(outcome.response, HttpResponseBase):
            return outcome.response
        return Response(outcome.body(), status=outcome.status_code)


def _reject_oversized_body(request: Request) -> None:
    limit = agentic_settings.MAX_UPLOAD_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # Multipart framing adds a little; anything far above the limit is refused unread.
    if length > limit + 64 * 1024:
        raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")


def _uploaded_files(request: Request) -> UploadedFiles:
    limit = agentic_settings.MAX_UPLOAD_BYTES
    files = UploadedFiles()
    for field_name, upload in request.FILES.items():
        if upload.size > limit:
            raise PayloadTooLarge(
                f"File {field_name!r} is {upload.size} bytes; the limit is {limit} bytes."
            )
        files[field_name] = UploadedFile(
            field_name=field_name,
            filename=upload.name or field_name,
            content_type=upload.content_type or "application/octet-stream",
            content=upload.read(),
        )
    return files


def _validate_params(endpoint: AgentEndpointDef, params: dict[str, Any] | None) -> Any:
    if params is None:
        return None
    schema = endpoint.intent_schema
    if schema is None:
        raise exceptions.ValidationError(
            {"params": [f"Endpoint {endpoint.name!r} does not take a typed payload."]}
        )
    try:
        return schema.model_validate(params)
    except PydanticValidationError as exc:
        raise exceptions.ValidationError(
            {
                "params": [
                    f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
                    for err in exc.errors()
                ]
            }
        ) from exc


class CapabilitiesView(AgentAPIView):
    """``GET /agents/``: what each registered endpoint does and accepts."""

    site = agents

    async def get(self, request: Request) -> Response:
        return Response(
            {
                "title": agentic_settings.API_TITLE,
                "version": agentic_settings.API_VERSION,
                "endpoints": describe_endpoints(self.site),
            }
        )


class HealthView(AgentAPIView):
    """``GET /agents/health/``: liveness plus the state of the services agents need.

    Anyone may ask whether the service is up; which backends run and how the
    sandbox is isolated is for staff (or everyone with ``HEALTH_DETAILS="public"``).
    """

    def get_permissions(self) -> list[Any]:
        return [AllowAny()]

    def get_throttles(self) -> list[Any]:
        return []

    def perform_authentication(self, request: Request) -> None:
        """Authenticate lazily: a liveness probe with a bad token still gets its status."""

    async def get(self, request: Request) -> Response:
        report = await health.check()
        code = status.HTTP_200_OK if report["status"] == "ok" else 503
        if not await sync_to_async(_sees_health_details)(request):
            report = {"status": report["status"]}
        return Response(report, status=code)


def _sees_health_details(request: Request) -> bool:
    if agentic_settings.HEALTH_DETAILS == "public":
        return True
    try:
        user = request.user
    except exceptions.AuthenticationFailed:
        # A bad token on a liveness probe: answer the status, not a 401.
        return False
    return bool(getattr(user, "is_staff", False))


class OpenAPIView(AgentAPIView):
    """``GET /agents/openapi.json``: an OpenAPI 3.1 document of the agent endpoints."""

    site = agents

    async def get(self, request: Request) -> Response:
        return Response(build_openapi_document(self.site, base_path=request.path.rsplit("/", 1)[0]))
