"""Channels consumers: SSE/NDJSON streams over HTTP, and the agent WebSocket."""

from .http import AgentStreamConsumer, ApprovalEventsConsumer, RunEventsConsumer
from .websocket import AgentSocketConsumer

__all__ = [
    "AgentSocketConsumer",
    "AgentStreamConsumer",
    "ApprovalEventsConsumer",
    "RunEventsConsumer",
]
