"""``POST /agents/runs/<run_id>/resume/``: decide a run's pending mid-stream approval."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ..core.exceptions import ApprovalStateError, InvalidRequest
from ..core.exceptions import PermissionDenied as AgentPermissionDenied
from ..models import ApprovalRequest
from ..services.runs import find_visible_sync
from ..services.stream_approvals import decide_stream, pending_for_run
from .approvals import Conflict
from .views import AgentAPIView


class ResumeSerializer(serializers.Serializer[Any]):
    approval_id = serializers.CharField(required=False, allow_blank=False, max_length=64)
    decision = serializers.CharField(max_length=100)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


def _resume(run_id: str, user: Any, data: dict[str, Any]) -> ApprovalRequest:
    # A run the caller may not see answers like one that does not exist: 404 either way.
    run = find_visible_sync(run_id, user)
    if run is None:
        raise exceptions.NotFound("No such run.")
    try:
        pending = pending_for_run(run, data.get("approval_id"))
        return decide_stream(
            pending.request_id, user, data["decision"], run_id=run.run_id, reason=data["reason"]
        )
    except ApprovalRequest.DoesNotExist:
        raise exceptions.NotFound("No such pending approval on this run.") from None
    except AgentPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc)) from None
    except InvalidRequest as exc:
        raise exceptions.ValidationError({"decision": [str(exc)]}) from None
    except ApprovalStateError as exc:
        raise Conflict(str(exc)) from None


class RunResumeView(AgentAPIView):
    """The run's owner, or an approver per the endpoint's rules, chooses one of the options."""

    def get_permissions(self) -> list[Any]:
        return [*super().get_permissions(), IsAuthenticated()]

    async def post(self, request: Request, run_id: str) -> Response:
        serializer = ResumeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decided = await sync_to_async(_resume)(run_id, request.user, serializer.validated_data)
        return Response(
            {
                "run_id": run_id,
                "approval_id": decided.request_id,
                "status": decided.status,
                "decision": (decided.result or {}).get("decision"),
            }
        )
