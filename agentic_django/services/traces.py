"""Recording what a request did: the execution trace and the session turn, atomically."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from ..models import AgentRun, ExecutionTrace, LLMCall, SessionTurn
from ..observability import tracing
from ..signals import announce
from . import approvals
from .approvals import PendingApproval
from .llm import RecordedCall
from .sessions import SessionState, save_session, user_pk

SUMMARY_CHARS = 200

#: How the requests of the current task arrived ("mcp"; blank for the HTTP API,
#: streams and Python). A transport sets it around its pipeline call instead of
#: threading a parameter through every layer; tasks and threads started from
#: there inherit it.
current_transport: ContextVar[str] = ContextVar("agentic_transport", default="")


@dataclass
class TraceRecord:
    """What the pipeline learned about one request, ready to be stored."""

    trace_id: str
    endpoint_name: str
    intent_raw: str
    status: str
    duration_ms: float = 0.0
    intent_action: str = ""
    intent_domain: str = ""
    intent_parameters: dict[str, Any] = field(default_factory=dict)
    intent_confidence: float | None = None
    result: Any = None
    error: str = ""
    error_type: str = ""
    generated_code: str = ""
    reasoning: str = ""
    policy_evaluations: list[Any] = field(default_factory=list)
    tool_calls: list[Any] = field(default_factory=list)
    harness_report: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    #: An action stopped for approval, stored with the trace in the same transaction.
    pending_approval: PendingApproval | None = None
    #: Set when the request carries out an approved (or rejected) action.
    approval_request_id: int | None = None
    response_summary: str = ""
    llm_calls: list[RecordedCall] = field(default_factory=list)
    #: The streaming run this request is (its trace and session are linked to it).
    run_pk: int | None = None
    transport: str = field(default_factory=current_transport.get)
    #: The OpenTelemetry span the record was made in (the request span).
    otel_trace_id: str = field(default_factory=tracing.current_trace_id)
    otel_span_id: str = field(default_factory=tracing.current_span_id)


def summarize(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:SUMMARY_CHARS]


_sqlite_writer = threading.Lock()


def _write_lock() -> AbstractContextManager[Any]:
    """Serialise this process's writes when the database is SQLite.

    SQLite admits one writer at a time; concurrent writers wait in its busy
    handler, which sleeps in steps of up to 100 ms. Queueing them on a lock
    instead keeps the latency tail short under concurrent requests.
    """
    return _sqlite_writer if connection.vendor == "sqlite" else nullcontext()


def record_request(record: TraceRecord, session: SessionState, user: Any) -> ExecutionTrace:
    """Save the session, the trace, its LLM calls and the turn in one transaction.

    Either all of them exist afterwards or none does.
    """
    with _write_lock(), transaction.atomic():
        saved_session = save_session(session, user)
        trace = ExecutionTrace.objects.create(
            trace_id=record.trace_id,
            endpoint_name=record.endpoint_name,
            user_id=user_pk(user),
            session_id=saved_session.pk,
            status=record.status,
            transport=record.transport,
            intent_raw=record.intent_raw,
            intent_action=record.intent_action,
            intent_domain=record.intent_domain,
            intent_parameters=record.intent_parameters,
            intent_confidence=record.intent_confidence,
            result=record.result,
            error=record.error,
            error_type=record.error_type,
            duration_ms=record.duration_ms,
            generated_code=record.generated_code,
            reasoning=record.reasoning,
            policy_evaluations=record.policy_evaluations,
            tool_calls=record.tool_calls,
            harness_report=record.harness_report,
            checkpoint=record.checkpoint,
            approval_request_id=record.approval_request_id,
            input_tokens=sum(call.input_tokens for call in record.llm_calls),
            output_tokens=sum(call.output_tokens for call in record.llm_calls),
            cost_usd=sum((call.cost_usd for call in record.llm_calls), Decimal(0)),
            otel_trace_id=record.otel_trace_id,
            otel_span_id=record.otel_span_id,
        )
        if record.llm_calls:
            LLMCall.objects.bulk_create(
                LLMCall(
                    trace=trace,
                    user_id=trace.user_id,
                    endpoint_name=record.endpoint_name,
                    alias=call.alias,
                    provider=call.provider,
                    model=call.model,
                    purpose=call.purpose,
                    input_tokens=call.input_tokens,
                    output_tokens=call.output_tokens,
                    usage_estimated=call.usage_estimated,
                    cost_usd=call.cost_usd,
                    price_source=call.price_source,
                    latency_ms=call.latency_ms,
                    finish_reason=call.finish_reason,
                    error=call.error,
                )
                for call in record.llm_calls
            )
        if record.pending_approval is not None:
            request = approvals.store(
                record.pending_approval,
                trace=trace,
                session_pk=saved_session.pk,
                user_id=user_pk(user),
            )
            transaction.on_commit(lambda: announce("requested", request))
        if record.run_pk is not None:
            AgentRun.objects.filter(pk=record.run_pk).update(
                trace=trace, session_id=saved_session.pk
            )
        SessionTurn.objects.create(
            session_id=saved_session.pk,
            index=session.turn_count,
            endpoint_name=record.endpoint_name,
            intent=record.intent_raw,
            response_summary=record.response_summary,
            trace=trace,
        )
    return trace
