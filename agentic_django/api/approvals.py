"""The approvals API: list what you may see, read one, decide one.

``GET /agents/approvals/``, ``GET /agents/approvals/<id>/`` and
``POST /agents/approvals/<id>/decision/``. Always authenticated; a request
someone may not read answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ..core.exceptions import ApprovalStateError, PermissionDenied
from ..models import ApprovalRequest, ApprovalStatus
from ..services import approval_runs, approvals
from .pagination import StrictLimitOffsetPagination
from .views import AgentAPIView


class DecisionSerializer(serializers.Serializer[Any]):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


def describe(request: ApprovalRequest, *, detail: bool = False) -> dict[str, Any]:
    """The JSON shape of a request; ``detail`` adds what is to run (for review)."""
    body: dict[str, Any] = {
        "id": request.request_id,
        "kind": request.kind,
        "status": request.status,
        "endpoint": request.endpoint_name,
        "summary": request.summary,
        "rule": request.rule_name,
        "approvers": request.approvers,
        "requested_by": request.requested_by.get_username() if request.requested_by else None,
        "created_at": request.created_at.isoformat(),
        "expires_at": request.expires_at.isoformat(),
        "decided_at": request.decided_at.isoformat() if request.decided_at else None,
        "decided_by": request.decided_by.get_username() if request.decided_by else None,
        "reason": request.reason,
        "executed_at": request.executed_at.isoformat() if request.executed_at else None,
        "result": request.result,
        "error": request.error,
        "attempts": request.attempts,
    }
    if detail:
        action = request.action
        body["action"] = {
            key: action[key] for key in ("code", "data", "tool", "arguments") if key in action
        }
        if "checkpoint" in action and request.kind == "workflow":
            body["action"]["pending_steps"] = action["checkpoint"].get("pending", [])
    return body


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "The approval request is not in a state that allows this."
    default_code = "approval_state"


class ApprovalAPIView(AgentAPIView):
    def get_permissions(self) -> list[Any]:
        # Whatever the project's defaults, deciding and reading need a known user.
        return [*super().get_permissions(), IsAuthenticated()]


def _readable(request_id: str, user: Any) -> ApprovalRequest:
    try:
        found = ApprovalRequest.objects.select_related("requested_by", "decided_by").get(
            request_id=request_id
        )
    except ApprovalRequest.DoesNotExist:
        raise exceptions.NotFound("No such approval request.") from None
    if not approvals.may_read(user, found):
        raise exceptions.NotFound("No such approval request.")
    return approvals.expire_if_due(found)


class ApprovalFilters(serializers.Serializer):
    """The list's query filters. DRF's fields refuse what the database would (a NUL
    character, an endpoint name longer than the column) with a 400, never a 500."""

    status = serializers.CharField(required=False, allow_blank=True)
    endpoint = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate_status(self, value: str) -> str:
        if value and value not in ApprovalStatus.values:
            raise serializers.ValidationError(f"Unknown status {value!r}.")
        return value


class ApprovalListView(ApprovalAPIView):
    """``GET /agents/approvals/?status=pending&endpoint=…&limit=50&offset=0``."""

    async def get(self, request: Request) -> Response:
        return Response(await sync_to_async(self._page)(request))

    def _page(self, request: Request) -> dict[str, Any]:
        filters = ApprovalFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        visible = approvals.visible_to(request.user).select_related("requested_by", "decided_by")
        if status := filters.validated_data.get("status"):
            visible = visible.filter(status=status)
        if endpoint := filters.validated_data.get("endpoint"):
            visible = visible.filter(endpoint_name=endpoint)
        paginator = StrictLimitOffsetPagination()
        page = paginator.paginate_queryset(visible.order_by("-created_at"), request, view=self)
        rows = [describe(approvals.expire_if_due(item)) for item in page or []]
        return paginator.get_paginated_response(rows).data  # type: ignore[no-any-return]


class ApprovalDetailView(ApprovalAPIView):
    """``GET /agents/approvals/<id>/``: status and result (requester and approvers only)."""

    async def get(self, request: Request, request_id: str) -> Response:
        found = await sync_to_async(_readable)(request_id, request.user)
        return Response(describe(found, detail=True))


class ApprovalDecisionView(ApprovalAPIView):
    """``POST /agents/approvals/<id>/decision/`` ``{"decision": "approve"|"reject", "reason"}``."""

    async def post(self, request: Request, request_id: str) -> Response:
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        await sync_to_async(_readable)(request_id, request.user)
        try:
            decided = await sync_to_async(approvals.decide)(
                request_id,
                request.user,
                approve=serializer.validated_data["decision"] == "approve",
                reason=serializer.validated_data["reason"],
            )
        except PermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        except ApprovalStateError as exc:
            raise Conflict(str(exc)) from exc
        decided = await approval_runs.run_decided(decided)
        decided = await sync_to_async(_readable)(request_id, request.user)
        return Response(describe(decided, detail=True))
