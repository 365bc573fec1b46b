"""The baseline of the framework-cost measurement: a bare adrf view, no framework work.

It answers the same JSON shape as an agent endpoint with the same (empty)
authentication and ``AllowAny`` permission, so the CPU difference between the two is
what agentic_django adds to a request.
"""

from __future__ import annotations

import uuid

from adrf.views import APIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response


class BareView(APIView):
    """``POST /bare/``: echoes a body shaped like an agent response."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    async def post(self, request: Request) -> Response:
        return Response(
            {
                "result": {"ok": True, "echo": request.data.get("intent", "")},
                "status": "completed",
                "confidence": 0.9,
                "execution_trace_id": uuid.uuid4().hex,
                "follow_up_suggestions": [],
                "session_id": uuid.uuid4().hex,
            }
        )
