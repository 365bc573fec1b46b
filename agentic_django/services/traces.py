"""Recording what a request did: the execution trace and the session turn, atomically."""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from ..conf import agentic_settings
from ..models import AgentRun, ExecutionTrace, LLMCall, SessionTurn, TraceStatus
from ..observability import tracing
from ..signals import announce
from . import approvals
from .approvals import PendingApproval
from .llm import RecordedCall
from .serialization import to_storable
from .sessions import SessionState, save_session, user_pk

logger = logging.getLogger("agentic_django.pipeline")

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


#: The stored fields of a :class:`TraceRecord` that hold model or user data.
_DATA_FIELDS = (
    "intent_raw",
    "intent_parameters",
    "result",
    "error",
    "generated_code",
    "reasoning",
    "policy_evaluations",
    "tool_calls",
    "harness_report",
    "checkpoint",
    "response_summary",
)

#: How much of a failure's description the minimal record keeps.
_MINIMAL_ERROR_CHARS = 4000


def record_request(record: TraceRecord, session: SessionState, user: Any) -> ExecutionTrace:
    """Save the session, the trace, its LLM calls and the turn in one transaction.

    Either all of them exist afterwards or none does. Every value is made
    storable first (see :func:`.serialization.to_storable`); should the write
    still fail, a minimal trace (status ``error``) and every LLM call — what was
    paid for, which the budgets sum — are written in a transaction of their own,
    so a request that reached the pipeline never goes unrecorded.
    """
    for name in _DATA_FIELDS:
        setattr(record, name, to_storable(getattr(record, name)))
    session.context = to_storable(session.context)
    for call in record.llm_calls:
        call.error = to_storable(call.error)
    try:
        return _record_everything(record, session, user)
    except Exception as exc:  # a database error, or a value a field refused to encode
        logger.exception("Recording trace %s failed; writing a minimal record", record.trace_id)
        return _record_minimal(record, user, exc)


def _record_minimal(record: TraceRecord, user: Any, failure: BaseException) -> ExecutionTrace:
    description = to_storable(f"The full record could not be written: {failure!r}")
    if record.error:
        description += f"\n{record.error}"
    with _write_lock(), transaction.atomic():
        trace = ExecutionTrace.objects.create(
            trace_id=record.trace_id,
            endpoint_name=record.endpoint_name,
            user_id=user_pk(user),
            status=TraceStatus.ERROR,
            transport=record.transport,
            intent_raw=record.intent_raw[: agentic_settings.MAX_INTENT_CHARS],
            error=description[:_MINIMAL_ERROR_CHARS],
            error_type=f"{type(failure).__module__}.{type(failure).__qualname__}",
            duration_ms=record.duration_ms,
            **_usage(record),
        )
        _record_calls(trace, record)
    return trace


def _usage(record: TraceRecord) -> dict[str, Any]:
    return {
        "input_tokens": sum(call.input_tokens for call in record.llm_calls),
        "output_tokens": sum(call.output_tokens for call in record.llm_calls),
        "cost_usd": sum((call.cost_usd for call in record.llm_calls), Decimal(0)),
    }


def _record_calls(trace: ExecutionTrace, record: TraceRecord) -> None:
    if not record.llm_calls:
        return
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


def _record_everything(record: TraceRecord, session: SessionState, user: Any) -> ExecutionTrace:
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
            otel_trace_id=record.otel_trace_id,
            otel_span_id=record.otel_span_id,
            **_usage(record),
        )
        _record_calls(trace, record)
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
