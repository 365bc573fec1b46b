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
from .views import AgentAPIView

#: The largest ``?offset=`` accepted: far past any real list, well inside the
#: 64-bit integers databases take for OFFSET.
MAX_OFFSET = 2**31 - 1
#: Requests listed per page (``?offset=`` moves on).
PAGE_SIZE = 50


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


class ApprovalListView(ApprovalAPIView):
    """``GET /agents/approvals/?status=pending&endpoint=…&offset=0``."""

    async def get(self, request: Request) -> Response:
        return Response(await sync_to_async(self._page)(request))

    def _page(self, request: Request) -> dict[str, Any]:
        visible = approvals.visible_to(request.user).select_related("requested_by", "decided_by")
        status = request.query_params.get("status")
        if status:
            if status not in ApprovalStatus.values:
                raise exceptions.ValidationError({"status": [f"Unknown status {status!r}."]})
            visible = visible.filter(status=status)
        if endpoint := request.query_params.get("endpoint"):
            visible = visible.filter(endpoint_name=endpoint)
        try:
            offset = max(int(request.query_params.get("offset", 0)), 0)
        except ValueError:
            raise exceptions.ValidationError({"offset": ["Must be an integer."]}) from None
        if offset > MAX_OFFSET:
            # Past a 64-bit integer the database refuses the query (a 500); nothing
            # lives that far anyway, so say so instead.
            raise exceptions.ValidationError({"offset": [f"Must be at most {MAX_OFFSET}."]})
        page = list(visible.order_by("-created_at")[offset : offset + PAGE_SIZE + 1])
        rows = [describe(approvals.expire_if_due(item)) for item in page[:PAGE_SIZE]]
        return {
            "results": rows,
            "next_offset": offset + PAGE_SIZE if len(page) > PAGE_SIZE else None,
        }


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
