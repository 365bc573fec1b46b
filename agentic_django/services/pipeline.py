"""The request pipeline shared by every transport.

``process_intent`` takes a validated raw intent for one endpoint and returns an
:class:`Outcome`: the response to send, its HTTP status, and the ids of the
trace and session it was recorded under. Every call records exactly one
:class:`~agentic_django.models.ExecutionTrace` and one session turn, whatever
happens inside.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.http import HttpResponseBase
from pydantic import BaseModel, ValidationError

from ..conf import agentic_settings, on_reload
from ..core.context import AgentContext
from ..core.dependencies import InjectionPlan, Solver
from ..core.exceptions import (
    AgentDisabled,
    AgenticError,
    ApprovalRequired,
    BudgetExceeded,
    LLMConfigurationError,
    LLMProviderError,
    PolicyViolation,
    ResponseValidationError,
    http_status_for,
)
from ..core.files import UploadedFiles
from ..core.intent import DEFAULT_KEYWORDS, Intent, IntentParser, KeywordTables
from ..core.response import AgentResponse
from ..core.storable import UnstorableValue
from ..core.tasks import AgentTasks
from ..harness import BudgetPolicy
from ..models import TraceStatus, new_id
from ..observability import tracing
from . import background
from .agents import every_action_needs_approval, resolve_endpoint
from .approvals import ApprovalPending
from .budget import BudgetedBackend, BudgetGuard
from .db import run_db
from .execution import ExecutionScope, run_engine
from .llm import CallRecorder, RecordingBackend, llm_backends
from .policies import PolicyLedger
from .serialization import to_jsonable, to_storable
from .sessions import SessionState, load_session, user_pk
from .traces import TraceRecord, record_request, summarize

if TYPE_CHECKING:
    from ..registry import AgentEndpointDef, AgentSite
    from .runs import RunContext

logger = logging.getLogger("agentic_django.pipeline")

GENERIC_ERROR = "Internal server error"
#: What a client hears when an LLM backend cannot be used (the detail goes to the log).
PROVIDER_UNAVAILABLE = "LLM provider unavailable"
#: What a client hears when the provider answered with an error (its words stay on the trace).
PROVIDER_ERROR = "The language model provider returned an error."


@dataclass
class Outcome:
    """The result of one pipeline run."""

    response: AgentResponse | HttpResponseBase
    status_code: int
    trace_id: str
    session_id: str
    exception: BaseException | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body for an :class:`AgentResponse` outcome."""
        assert isinstance(self.response, AgentResponse)
        return {**self.response.to_dict(), "session_id": self.session_id}

    def response_or_raise(self) -> AgentResponse | HttpResponseBase:
        """For Python callers: the response, or the framework error that stopped it."""
        if isinstance(self.exception, AgenticError) and not isinstance(
            self.exception, ApprovalRequired
        ):
            raise self.exception
        return self.response


async def _run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
    return await sync_to_async(func)(*args, **kwargs)


def _status_for_error(exc: BaseException) -> str:
    if isinstance(exc, PolicyViolation):
        return TraceStatus.POLICY_DENIED
    if isinstance(exc, BudgetExceeded):
        return TraceStatus.BUDGET_EXCEEDED
    if isinstance(exc, ApprovalRequired):
        return TraceStatus.PENDING_APPROVAL
    if isinstance(exc, AgentDisabled):
        return TraceStatus.AGENT_DISABLED
    return TraceStatus.ERROR


def validate_result(result: Any, endpoint: AgentEndpointDef) -> Any:
    """Coerce a handler result into JSON-ready data through ``response_model``."""
    model = endpoint.response_model
    if model is not None and result is not None:
        try:
            validated = result if isinstance(result, model) else model.model_validate(result)
        except ValidationError as exc:
            raise ResponseValidationError(
                f"The result of {endpoint.name!r} does not match {model.__name__}: "
                f"{exc.error_count()} error(s)",
                errors=exc.errors(include_url=False),
            ) from exc
        return to_jsonable(validated)
    return to_jsonable(result)


_keywords: KeywordTables | None = None


def keyword_tables() -> KeywordTables:
    """The keyword parser's tables with ``INTENT_KEYWORDS`` merged in (once per reload)."""
    global _keywords
    if _keywords is None:
        _keywords = DEFAULT_KEYWORDS.extended(agentic_settings.INTENT_KEYWORDS)
    return _keywords


@on_reload
def _forget_keywords() -> None:
    global _keywords
    _keywords = None


def _intent_parser(recorder: CallRecorder, guard: BudgetGuard) -> tuple[IntentParser, Any]:
    """The configured parser: keywords, or the ``INTENT_PARSER_LLM`` backend, budgeted."""
    alias = agentic_settings.INTENT_PARSER_LLM
    if not alias:
        return IntentParser(keywords=keyword_tables()), None
    llm = BudgetedBackend(llm_backends[alias], guard)
    return IntentParser(llm=llm, keywords=keyword_tables()), recorder.observer(alias)


@tracing.traced("agentic.intent.parse")
async def _parse_intent(
    raw: str,
    endpoint: AgentEndpointDef,
    session: SessionState,
    params: BaseModel | None,
    recorder: CallRecorder,
    guard: BudgetGuard,
) -> Intent[Any]:
    parser, observer = _intent_parser(recorder, guard)
    if params is not None:
        # The caller sent the typed payload itself: only the action and domain are parsed.
        intent = await parser.parse(raw, session_context=session.context, observer=observer)
        return Intent(
            raw=intent.raw,
            action=intent.action,
            domain=intent.domain,
            params=params,
            parameters=params.model_dump(mode="json"),
            confidence=1.0,
            session_context=intent.session_context,
        )
    return await parser.parse(
        raw, session_context=session.context, schema=endpoint.intent_schema, observer=observer
    )


async def _call_handler(
    site: AgentSite, endpoint: AgentEndpointDef, values: dict[str, Any], plan: InjectionPlan
) -> Any:
    from ..registry import _extra_injectables

    async with Solver(
        values,
        overrides=site.dependency_overrides,
        extra_injectables=_extra_injectables(),
        run_sync=_run_sync,
    ) as solver:
        for dependency in endpoint.dependencies:
            await solver.resolve(dependency)
        return await solver.call(plan)


def _to_response(result: Any, endpoint: AgentEndpointDef, intent: Intent[Any]) -> Any:
    if isinstance(result, HttpResponseBase):
        return result
    if isinstance(result, AgentResponse):
        result.result = validate_result(result.result, endpoint)
        return result
    return AgentResponse(
        result=validate_result(result, endpoint), status="completed", confidence=intent.confidence
    )


def _preparation_plan(endpoint: AgentEndpointDef) -> InjectionPlan:
    """What runs first: ``context_data`` for a codegen endpoint that has one, else the handler."""
    if endpoint.engine == "codegen" and endpoint.context_data_plan is not None:
        return endpoint.context_data_plan
    assert endpoint.injection_plan is not None
    return endpoint.injection_plan


@tracing.traced_request
async def process_intent(
    site: AgentSite,
    endpoint: AgentEndpointDef,
    raw: str,
    *,
    user: Any = None,
    session_id: str | None = None,
    files: UploadedFiles | None = None,
    request: Any = None,
    params: BaseModel | None = None,
    run: RunContext | None = None,
) -> Outcome:
    """Run ``raw`` through ``endpoint`` and record the trace and the session turn.

    With ``run`` the request is streamed: the handler gets its ``AgentStream``,
    the engines emit their events on it, and the trace is linked to the run.
    """
    started = time.perf_counter()
    try:
        endpoint = await resolve_endpoint(endpoint)
    except AgentDisabled as exc:
        return await refuse(endpoint, raw, exc, user=user, session_id=session_id)
    # Without a session id there is nothing to look up: skip the thread hop.
    session = await run_db(load_session, session_id, user) if session_id else SessionState(new_id())
    trace_id = new_id()
    record = TraceRecord(
        trace_id=trace_id,
        endpoint_name=endpoint.name,
        intent_raw=raw,
        status=TraceStatus.COMPLETED,
        run_pk=run.run.pk if run is not None else None,
    )
    tasks = background.new_tasks()
    recorder = CallRecorder()
    owner_id = user_pk(user)
    ledger: PolicyLedger | None = None
    exception: BaseException | None = None
    response: AgentResponse | HttpResponseBase
    try:
        if overrides := endpoint.agent_settings.overrides():
            record.harness_report["agent_overrides"] = overrides
        ledger = PolicyLedger.for_endpoint(endpoint.policies)
        guard = BudgetGuard(
            ledger.find(BudgetPolicy),
            recorder,
            user_id=owner_id,
            session_pk=session.pk,
            endpoint_name=endpoint.name,
        )
        # Text policies run before any LLM sees the request; in redact mode the
        # personal data is replaced before parsing, and never reaches the trace.
        ledger.check_intent_text(raw, endpoint=endpoint.name)
        raw = record.intent_raw = ledger.redact(raw)
        intent = await _parse_intent(raw, endpoint, session, params, recorder, guard)
        record.intent_action = intent.action.value
        record.intent_domain = intent.domain
        record.intent_parameters = to_jsonable(intent.parameters)
        record.intent_confidence = intent.confidence
        if run is not None:
            run.gate.intent_key = (intent.action.value, intent.domain)
            if every_action_needs_approval(endpoint, intent.action.value, intent.domain):
                run.stream.require_approval()
        if endpoint.intent_scope is not None and not endpoint.intent_scope.matches(intent):
            raise PolicyViolation(
                f"Intent {intent.key!r} is not allowed on endpoint {endpoint.name!r}.",
                policy="intent_scope",
            )
        context = AgentContext(
            trace_id=trace_id,
            endpoint_name=endpoint.name,
            session_id=session.session_id,
            user_id=str(owner_id) if owner_id is not None else None,
            user=user,
            session_context=session.context,
            metadata={"files": files or UploadedFiles(), "request": request},
        )
        values = {
            "intent": intent,
            "context": context,
            "tasks": tasks,
            "files": files or UploadedFiles(),
            "request": request,
            "stream": run.stream if run is not None else None,
        }
        plan = _preparation_plan(endpoint)
        if "llm" in plan.uses:
            values["llm"] = RecordingBackend(
                BudgetedBackend(
                    llm_backends.with_model(endpoint.llm_alias, endpoint.llm_model), guard
                ),
                recorder,
                endpoint.llm_alias,
                "handler",
            )
        prepared = await _call_handler(site, endpoint, values, plan)
        if endpoint.engine == "handler":
            response = _to_response(prepared, endpoint, intent)
        else:
            scope = ExecutionScope(
                endpoint=endpoint,
                intent=intent,
                context=context,
                user=user,
                user_id=owner_id,
                ledger=ledger,
                recorder=recorder,
                guard=guard,
                record=record,
                stream=run.stream if run is not None else None,
            )
            response = await run_engine(scope, prepared)
            response.result = validate_result(response.result, endpoint)
        if isinstance(response, AgentResponse):
            response.result = ledger.redact(response.result)
            response.generated_code = ledger.redact(response.generated_code)
            response.reasoning = ledger.redact(response.reasoning)
    except Exception as exc:
        exception = exc
        response = failure_response(exc, record)
    except asyncio.CancelledError:
        # A cancelled run still leaves its trace (and the LLM calls it paid for).
        from .runs import RunCancelled

        cancelled = RunCancelled("The run was cancelled.")
        await finish_request(
            record,
            failure_response(cancelled, record),
            cancelled,
            ledger=ledger,
            recorder=recorder,
            session=session,
            user=user,
            started=started,
        )
        raise
    return await finish_request(
        record,
        response,
        exception,
        ledger=ledger,
        recorder=recorder,
        session=session,
        user=user,
        started=started,
        tasks=tasks,
    )


async def refuse(
    endpoint: AgentEndpointDef,
    raw: str,
    exc: AgenticError,
    *,
    user: Any = None,
    session_id: str | None = None,
) -> Outcome:
    """Record a request refused before it ran (its agent is switched off)."""
    started = time.perf_counter()
    # Only for its redaction: the stored intent keeps no personal data.
    ledger = PolicyLedger.for_endpoint(endpoint.policies)
    session = await run_db(load_session, session_id, user) if session_id else SessionState(new_id())
    record = TraceRecord(
        trace_id=new_id(),
        endpoint_name=endpoint.name,
        intent_raw=ledger.redact(raw),
        status=TraceStatus.COMPLETED,
    )
    return await finish_request(
        record,
        failure_response(exc, record),
        exc,
        ledger=ledger,
        recorder=CallRecorder(),
        session=session,
        user=user,
        started=started,
    )


def failure_response(exc: BaseException, record: TraceRecord) -> AgentResponse:
    """The response for an exception that stopped a request (logged when unexpected)."""
    if isinstance(exc, ApprovalPending):
        record.pending_approval = exc.pending
    if isinstance(exc, LLMConfigurationError):
        # How to fix it (a missing SDK extra or API key) is for operators, not clients:
        # logged, and kept on the trace's error.
        logger.error(
            "Agent endpoint %r: LLM backend unusable (trace %s): %s",
            record.endpoint_name,
            record.trace_id,
            exc,
        )
        return _error_response(exc, PROVIDER_UNAVAILABLE)
    if isinstance(exc, LLMProviderError):
        # The provider's own words (quotas, ids) stay on the trace, scrubbed.
        return _error_response(exc, PROVIDER_ERROR)
    if isinstance(exc, AgenticError):
        return _error_response(exc, str(exc) or exc.code)
    logger.exception(
        "Agent endpoint %r failed (trace %s)", record.endpoint_name, record.trace_id, exc_info=exc
    )
    return _error_response(exc, GENERIC_ERROR)


async def finish_request(
    record: TraceRecord,
    response: AgentResponse | HttpResponseBase,
    exception: BaseException | None,
    *,
    ledger: PolicyLedger | None,
    recorder: CallRecorder,
    session: SessionState,
    user: Any,
    started: float,
    tasks: AgentTasks | None = None,
) -> Outcome:
    """Record the trace, its LLM calls, the session turn (and any approval) in one write."""
    if ledger is not None:
        record.policy_evaluations = ledger.to_json()
        # The stored copy of the request and what the engines did, minus personal data
        # (the checkpoint keeps exact arguments: an approved call must run as reviewed).
        record.intent_raw = ledger.redact_for_storage(record.intent_raw)
        record.generated_code = ledger.redact_for_storage(record.generated_code)
        record.reasoning = ledger.redact_for_storage(record.reasoning)
        record.tool_calls = ledger.redact_for_storage(record.tool_calls)
    if exception is None and isinstance(response, AgentResponse):
        try:
            # Engines' results too: nothing unstorable reaches the client or the trace.
            response.result = to_jsonable(response.result)
        except UnstorableValue as exc:
            exception = exc
            response = failure_response(exc, record)
    if isinstance(response, AgentResponse):
        _make_sendable(response)
    response_status = _record_outcome(record, response, exception)
    if isinstance(response, AgentResponse):
        response.execution_trace_id = record.trace_id
    record.duration_ms = (time.perf_counter() - started) * 1000
    record.llm_calls = recorder.calls
    session.context = dict(session.context)
    await run_db(record_request, record, session, user)
    if exception is None and tasks is not None:
        await background.dispatch(tasks)
    return Outcome(response, response_status, record.trace_id, session.session_id, exception)


def _make_sendable(response: AgentResponse) -> None:
    """Replace what no JSON renderer can send in the response's other fields (model text)."""
    response.reasoning = to_storable(response.reasoning)
    response.generated_code = to_storable(response.generated_code)
    response.error = to_storable(response.error)
    response.follow_up_suggestions = to_storable(response.follow_up_suggestions)
    response.details = to_storable(response.details)
    if not isinstance(response.confidence, int | float) or not math.isfinite(response.confidence):
        response.confidence = 0.0


def _error_response(exc: BaseException, message: str) -> AgentResponse:
    status = _status_for_error(exc)
    approval = None
    if isinstance(exc, ApprovalPending):
        approval = {**exc.pending.describe(), "summary": message}
    elif isinstance(exc, ApprovalRequired):
        approval = {"id": exc.request_id, "approvers": exc.approvers, "summary": message}
    return AgentResponse(
        result=None,
        status="error" if status == TraceStatus.ERROR else str(status),
        # A pause is not an error: what waits for approval is described in its own field.
        error=None if approval is not None else message,
        approval_request=approval,
        details=_error_details(exc),
    )


def _error_details(exc: BaseException) -> dict[str, Any] | None:
    """What a client may learn about a refusal: which policy, which budget."""
    if isinstance(exc, PolicyViolation):
        return {"code": exc.code, "policy": exc.policy, "violations": exc.violations}
    if isinstance(exc, BudgetExceeded):
        return {
            "code": exc.code,
            "scope": exc.scope,
            "limit_usd": exc.limit_usd,
            "estimated_usd": round(exc.observed_usd, 6),
        }
    if isinstance(exc, UnstorableValue):
        return {"code": exc.code, "problem": exc.problem}
    if isinstance(exc, AgenticError) and not isinstance(exc, ApprovalRequired):
        return {"code": exc.code}
    return None


def _record_outcome(
    record: TraceRecord, response: AgentResponse | HttpResponseBase, exc: BaseException | None
) -> int:
    """Fill the trace fields that depend on the outcome; return the HTTP status."""
    if exc is not None:
        record.status = _status_for_error(exc)
        record.error = f"{exc}" if str(exc) else type(exc).__name__
        # A provider SDK's exception can quote the request's credentials: its scrubbed
        # message above is what is kept.
        if exc.__cause__ is not None and not isinstance(exc, LLMProviderError):
            record.error += f"\ncaused by {exc.__cause__!r}"
        record.error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        if isinstance(exc, PolicyViolation) and "evaluation" not in exc.details:
            # Refused outside the policy evaluator (intent scope, static analysis,
            # the sandbox, a monitor or validator): keep it in the same shape.
            record.policy_evaluations.append(
                {
                    "stage": exc.code,
                    "results": [
                        {
                            "policy_name": exc.policy,
                            "allowed": False,
                            "violations": exc.violations,
                            "warnings": [],
                        }
                    ],
                }
            )
        record.response_summary = summarize(record.error)
        return http_status_for(exc)
    if isinstance(response, HttpResponseBase):
        record.result = {
            "http_response": {
                "status": response.status_code,
                "content_type": response.get("Content-Type", ""),
            }
        }
        record.response_summary = f"[{type(response).__name__} {response.status_code}]"
        return response.status_code
    record.result = response.result
    record.status = response.status if response.status in TraceStatus.values else "completed"
    record.generated_code = response.generated_code or record.generated_code
    record.reasoning = response.reasoning or record.reasoning
    record.error = response.error or ""
    record.response_summary = summarize(
        response.result if response.result is not None else response.status
    )
    return 200
