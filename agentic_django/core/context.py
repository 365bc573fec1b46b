"""The execution context handed to agent handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class AgentContext:
    """Who is asking, in which session, under which trace.

    ``user`` is the framework user object (a Django user in the Django layer)
    or ``None`` for anonymous callers; ``metadata`` carries transport details
    such as the DRF request or uploaded files.
    """

    trace_id: str
    endpoint_name: str
    session_id: str | None = None
    user_id: str | None = None
    user: Any = None
    session_context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
