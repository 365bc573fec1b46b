"""Durable state of agentic_django: sessions, traces, LLM calls, cached code, approvals, runs."""

from .agents import Agent, AgentChange, AutonomyOverride
from .approvals import (
    ApprovalApprover,
    ApprovalDecision,
    ApprovalKind,
    ApprovalRequest,
    ApprovalRequestQuerySet,
    ApprovalStatus,
)
from .base import new_id
from .cache import CodeCacheEntry, CodeCacheEntryQuerySet
from .runs import LIVE_RUN_STATES, AgentRun, AgentRunQuerySet, RunStatus, StreamEvent
from .sessions import AgentSession, AgentSessionQuerySet, SessionTurn
from .traces import (
    ExecutionTrace,
    ExecutionTraceQuerySet,
    LLMCall,
    LLMCallPurpose,
    TraceStatus,
    TraceTransport,
)

__all__ = [
    "LIVE_RUN_STATES",
    "Agent",
    "AgentChange",
    "AgentRun",
    "AgentRunQuerySet",
    "AgentSession",
    "AgentSessionQuerySet",
    "ApprovalApprover",
    "ApprovalDecision",
    "ApprovalKind",
    "ApprovalRequest",
    "ApprovalRequestQuerySet",
    "ApprovalStatus",
    "AutonomyOverride",
    "CodeCacheEntry",
    "CodeCacheEntryQuerySet",
    "ExecutionTrace",
    "ExecutionTraceQuerySet",
    "LLMCall",
    "LLMCallPurpose",
    "RunStatus",
    "SessionTurn",
    "StreamEvent",
    "TraceStatus",
    "TraceTransport",
    "new_id",
]
