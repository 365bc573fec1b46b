"""The baseline of ``benchmarks/overhead.py``: a bare adrf view with no framework work.

It answers with the same JSON shape as the ``bench`` agent endpoint and uses the same
(empty) authentication and ``AllowAny`` permission, so the difference between the two
is what agentic_django adds: intent parsing, dependency injection, the session and the
persisted trace.
"""

from __future__ import annotations

import uuid

from adrf.views import APIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response


class BareView(APIView):
    """``POST /bench/bare/``: echoes a body shaped like an agent response."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    async def post(self, request: Request) -> Response:
        return Response(
            {
                "result": {"ok": True, "echo": request.data.get("intent", "")},
                "status": "completed",
                "confidence": 0.5,
                "execution_trace_id": uuid.uuid4().hex,
                "follow_up_suggestions": [],
                "session_id": uuid.uuid4().hex,
            }
        )
