"""OpenTelemetry spans of the agent endpoints (extra ``otel``).

The span tree of one request::

    agentic.request <endpoint>            (continues an incoming ``traceparent``)
      agentic.intent.parse
        chat <model>                      (GenAI semantic conventions, one per LLM call)
      agentic.harness                     (events: static_analysis, monitors, validators)
        agentic.sandbox.execute           (backend, limits, cpu, memory)
      agentic.tool <name>                 (one per tool call of an agentic loop)
    agentic.run <endpoint>                (a streamed run, parent of its request span)
    agentic.approval.execute              (linked to the request that paused)

Spans are opened at a few hot spots through the decorators and functions here, so
the pipeline carries no tracing code of its own. Where the work has already
happened when we hear of it (an LLM call, a tool call, a sandbox run), the span is
written afterwards with its measured start and end.

Content is not recorded by default: spans carry names, models, token counts, cost
and outcomes. With ``OTEL_RECORD_CONTENT`` on, each LLM span also carries the
prompt (``gen_ai.system_instructions``, ``gen_ai.input.messages``) and the
completion (``gen_ai.output.messages``), personal data redacted by the PII policy.
Tool spans never carry their arguments.

Without ``opentelemetry-api`` installed, :data:`enabled` is false and every
decorator returns the function unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from ..core.exceptions import AgenticError

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ImportError:  # the extra is not installed
    trace = None  # type: ignore[assignment]

logger = logging.getLogger("agentic_django.tracing")
enabled = trace is not None
_tracer = trace.get_tracer("agentic_django") if trace is not None else None

F = TypeVar("F", bound=Callable[..., Any])

#: Our own attributes live under this prefix; the GenAI ones follow the conventions.
PREFIX = "agentic"


def current_ids() -> tuple[str, str]:
    """The (trace id, span id) of the active span as hex, or ``("", "")`` outside one."""
    if trace is None:
        return "", ""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def current_trace_id() -> str:
    return current_ids()[0]


def current_span_id() -> str:
    return current_ids()[1]


def link_to(trace_id: str, span_id: str) -> list[Any]:
    """A span link to a stored (trace id, span id), or no link when they are empty."""
    if trace is None or not (trace_id and span_id):
        return []
    context = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return [Link(context)]


@contextlib.contextmanager
def incoming(headers: Mapping[str, Any] | None) -> Iterator[bool]:
    """Continue the caller's trace from its ``traceparent`` header.

    Only when no span is active: with ``opentelemetry-instrumentation-django`` the
    server span already continues it, and ours becomes its child. Yields whether
    this request is the entry point of the process (no active span before).
    """
    if trace is None:
        yield False
        return
    if trace.get_current_span().get_span_context().is_valid:
        yield False
        return
    carrier = {}
    for key, value in (headers or {}).items():
        name = str(key).lower()
        if name.startswith("http_"):  # Django's META
            name = name[5:].replace("_", "-")
        if name in ("traceparent", "tracestate"):
            carrier[name] = str(value)
    from opentelemetry import context as otel_context

    token = otel_context.attach(propagate.extract(carrier)) if carrier else None
    try:
        yield True
    finally:
        if token is not None:
            otel_context.detach(token)


def traced(name: str, **attributes: Any) -> Callable[[F], F]:
    """Run the decorated coroutine function in a span called ``name``."""

    def decorate(func: F) -> F:
        if _tracer is None:
            return func

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _tracer.start_as_current_span(
                name, attributes=attributes, record_exception=False, set_status_on_exception=False
            ) as span:
                try:
                    return await func(*args, **kwargs)
                except BaseException as exc:
                    _mark_outcome(span, exc)
                    raise

        return wrapper  # type: ignore[return-value]

    return decorate


def _mark_outcome(span: Any, exc: BaseException) -> None:
    """An expected outcome (denial, pause, budget) as an attribute; anything else an error."""
    if isinstance(exc, AgenticError):
        span.set_attribute(f"{PREFIX}.outcome", exc.code)
    else:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def traced_request(func: F) -> F:
    """The request span around ``pipeline.process_intent(site, endpoint, raw, ...)``."""
    if _tracer is None:
        return func

    @functools.wraps(func)
    async def wrapper(site: Any, endpoint: Any, raw: str, **kwargs: Any) -> Any:
        request = kwargs.get("request")
        headers = getattr(request, "META", None)
        with incoming(headers) as entry:
            kind = SpanKind.SERVER if entry else SpanKind.INTERNAL
            with _tracer.start_as_current_span(
                f"{PREFIX}.request {endpoint.name}",
                kind=kind,
                attributes={
                    f"{PREFIX}.endpoint": endpoint.name,
                    f"{PREFIX}.streamed": kwargs.get("run") is not None,
                },
            ) as span:
                outcome = await func(site, endpoint, raw, **kwargs)
                span.set_attribute(f"{PREFIX}.trace_id", outcome.trace_id)
                span.set_attribute("http.response.status_code", outcome.status_code)
                if outcome.exception is not None:
                    _mark_outcome(span, outcome.exception)
                if outcome.status_code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                return outcome

    return wrapper  # type: ignore[return-value]


def traced_run(func: F) -> F:
    """The span of a streamed run around ``runs.execute(site, endpoint, raw, context)``."""
    if _tracer is None:
        return func

    @functools.wraps(func)
    async def wrapper(site: Any, endpoint: Any, raw: str, context: Any, **kwargs: Any) -> Any:
        with _tracer.start_as_current_span(
            f"{PREFIX}.run {endpoint.name}",
            attributes={
                f"{PREFIX}.endpoint": endpoint.name,
                f"{PREFIX}.run_id": context.run.run_id,
            },
        ):
            return await func(site, endpoint, raw, context, **kwargs)

    return wrapper  # type: ignore[return-value]


def paused_request_ids(request: Any) -> tuple[str, str]:
    """The stored (trace id, span id) of the request that stopped for ``request``."""
    from ..models import ExecutionTrace

    row = (
        ExecutionTrace.objects.filter(pk=request.trace_id)
        .values_list("otel_trace_id", "otel_span_id")
        .first()
    )
    return (row[0], row[1]) if row else ("", "")


def _approval_attributes(request: Any) -> dict[str, Any]:
    return {
        f"{PREFIX}.endpoint": request.endpoint_name,
        f"{PREFIX}.approval.kind": str(request.kind),
        f"{PREFIX}.approval.status": str(request.status),
        f"{PREFIX}.approval.request_id": str(request.request_id),
    }


def traced_approval_execution(func: F) -> F:
    """The span of carrying out an approved action, linked to the request that paused.

    The action usually runs later in another process (a Celery worker), so it starts
    its own trace; the link leads back to the paused request's span.
    """
    if _tracer is None:
        return func
    from asgiref.sync import sync_to_async

    @functools.wraps(func)
    async def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        trace_id, span_id = await sync_to_async(paused_request_ids)(request)
        with _tracer.start_as_current_span(
            f"{PREFIX}.approval.execute",
            links=link_to(trace_id, span_id),
            attributes=_approval_attributes(request),
        ):
            return await func(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _finished_span(
    name: str,
    duration_ms: float,
    attributes: dict[str, Any],
    error: str = "",
    links: list[Any] | None = None,
) -> None:
    """Write a span for work that already happened, ending now after ``duration_ms``."""
    if _tracer is None:
        return
    end = time.time_ns()
    start = end - int(max(duration_ms, 0.0) * 1_000_000)
    span = _tracer.start_span(name, start_time=start, attributes=attributes, links=links)
    if error:
        span.set_status(Status(StatusCode.ERROR, error[:200]))
        span.set_attribute("error.type", error.split(":", 1)[0][:100])
    span.end(end_time=end)


def llm_call(record: Any, call: Any) -> None:
    """One LLM call (an ``LLMCallRecord`` and its ``RecordedCall``), GenAI conventions."""
    if _tracer is None:
        return
    response = record.response
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": record.model or call.model,
        "gen_ai.response.model": call.model,
        "gen_ai.usage.input_tokens": call.input_tokens,
        "gen_ai.usage.output_tokens": call.output_tokens,
        f"{PREFIX}.llm.alias": call.alias,
        f"{PREFIX}.llm.purpose": call.purpose,
        f"{PREFIX}.llm.cost_usd": float(call.cost_usd),
        f"{PREFIX}.llm.usage_estimated": call.usage_estimated,
    }
    if response is not None and call.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [call.finish_reason]
    if _record_content():
        attributes.update(_content_attributes(record))
    _finished_span(
        f"chat {record.model or call.model}", call.latency_ms, attributes, error=call.error
    )


def _record_content() -> bool:
    from ..conf import agentic_settings

    return bool(agentic_settings.OTEL_RECORD_CONTENT)


def _content_attributes(record: Any) -> dict[str, str]:
    """The prompt and completion of one call as GenAI message attributes, redacted.

    The conventions' JSON shapes: ``gen_ai.system_instructions`` a list of parts,
    ``gen_ai.input.messages`` and ``gen_ai.output.messages`` lists of
    ``{"role", "parts"}`` messages. Every string inside (text, tool arguments, tool
    results) goes through the PII policy's redaction before it leaves the process.
    """
    attributes: dict[str, str] = {}
    prompt = record.prompt
    if prompt is not None:
        if prompt.system:
            attributes["gen_ai.system_instructions"] = _json_redacted(
                [{"type": "text", "content": prompt.system}]
            )
        messages = [_message(message) for message in prompt.messages]
        if messages:
            attributes["gen_ai.input.messages"] = _json_redacted(messages)
    response = record.response
    if response is not None and (response.content or response.tool_calls):
        parts: list[dict[str, Any]] = []
        if response.content:
            parts.append({"type": "text", "content": response.content})
        parts.extend(_tool_call_part(call) for call in response.tool_calls)
        output: dict[str, Any] = {"role": "assistant", "parts": parts}
        if response.finish_reason:
            output["finish_reason"] = response.finish_reason
        attributes["gen_ai.output.messages"] = _json_redacted([output])
    return attributes


def _message(message: Any) -> dict[str, Any]:
    """One prompt message in the conventions' shape: text, tool calls or a tool's answer."""
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.tool_call_id, "response": message.content}
        )
    elif message.content:
        parts.append({"type": "text", "content": message.content})
    parts.extend(_tool_call_part(call) for call in message.tool_calls or [])
    shaped: dict[str, Any] = {"role": message.role, "parts": parts}
    if message.name:
        shaped["name"] = message.name
    return shaped


def _tool_call_part(call: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}


def _json_redacted(value: Any) -> str:
    """``value`` as JSON, every string in it redacted as the PII policy's redact mode does.

    Redacting the structure before encoding (not the encoded text) keeps the JSON
    valid and reaches strings nested in tool arguments.
    """
    from ..harness import PIIPolicy

    return json.dumps(PIIPolicy(mode="redact").redact(value), default=str)


def tool_call(payload: Mapping[str, Any]) -> None:
    """One finished tool call of an agentic loop (a ``tool_call_completed`` event)."""
    if _tracer is None:
        return
    tool = str(payload.get("tool", ""))
    _finished_span(
        f"{PREFIX}.tool {tool}",
        float(payload.get("duration_ms") or 0.0),
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": str(payload.get("call_id", "")),
            f"{PREFIX}.tool.iteration": int(payload.get("iteration") or 0),
        },
        error=str(payload.get("error") or ""),
    )


def harness_section(section: str, value: Any) -> None:
    """A section of the harness report: the sandbox run as a span, the rest as events."""
    if trace is None:
        return
    if section == "sandbox" and isinstance(value, dict):
        limits = value.get("limits")
        if not isinstance(limits, dict):
            limits = {}
        attributes: dict[str, Any] = {
            f"{PREFIX}.sandbox.backend": str(value.get("backend", "")),
            f"{PREFIX}.sandbox.cpu_ms": float(value.get("cpu_ms") or 0.0),
            f"{PREFIX}.sandbox.max_rss_kb": int(value.get("max_rss_kb") or 0),
        }
        for key, limit in limits.items():
            if isinstance(limit, int | float | str | bool):
                attributes[f"{PREFIX}.sandbox.limit.{key}"] = limit
        _finished_span(
            f"{PREFIX}.sandbox.execute", float(value.get("duration_ms") or 0.0), attributes
        )
        return
    span = trace.get_current_span()
    if section == "static_analysis" and isinstance(value, dict):
        span.add_event(
            f"{PREFIX}.static_analysis",
            {"ok": bool(value.get("ok")), "violations": len(value.get("violations") or [])},
        )
    elif section in ("monitors", "validators") and isinstance(value, list):
        failed = [
            str(item.get("monitor") or item.get("validator") or "")
            for item in value
            if isinstance(item, dict) and item.get("ok") is False
        ]
        span.add_event(f"{PREFIX}.{section}", {"ok": not failed, "failed": failed})
    elif section in ("code_cache", "engine") and isinstance(value, str):
        span.set_attribute(f"{PREFIX}.{section}", value)


def approval_event(event: str, request: Any) -> None:
    """An approval changing state: an event on the active span (the request that paused,
    or the one that carried it out); a decision is its own span, linked to the pause."""
    if trace is None:
        return
    attributes = _approval_attributes(request)
    if event == "decided":
        _finished_span(
            f"{PREFIX}.approval.decided",
            0.0,
            attributes,
            links=link_to(*paused_request_ids(request)),
        )
    else:
        trace.get_current_span().add_event(f"{PREFIX}.approval.{event}", attributes)


def connect_receivers() -> None:
    """Listen to the approval signals (called from ``AppConfig.ready``)."""
    if trace is None:
        return
    from .. import signals

    for event in ("requested", "decided", "executed", "expired"):
        getattr(signals, f"approval_{event}").connect(
            _approval_receiver(event), weak=False, dispatch_uid=f"agentic-tracing-{event}"
        )
    connect_celery()


def _approval_receiver(event: str) -> Any:
    def receive(sender: Any, request: Any, **kwargs: Any) -> None:
        try:
            approval_event(event, request)
        except Exception:  # tracing must never fail a request or a worker
            logger.exception("Recording the approval span failed")

    return receive


#: Celery tasks that continue the trace of the request that sent them. An approved
#: action does not: it runs much later, in its own trace, linked back instead.
CONTINUED_TASKS = frozenset({"agentic_django.run_agent_task"})
_task_spans: dict[str, tuple[Any, Any]] = {}


def connect_celery() -> None:
    """Carry the request's trace to ``AgentTasks`` run by Celery workers.

    The sender puts ``traceparent`` in the message headers (unless
    ``opentelemetry-instrumentation-celery`` already did); the worker opens an
    ``agentic.task <function>`` span under it, or under the instrumentation's span.
    """
    if trace is None:
        return
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_inject_headers, weak=False, dispatch_uid="agentic-otel-publish")
    task_prerun.connect(_start_task_span, weak=False, dispatch_uid="agentic-otel-prerun")
    task_postrun.connect(_end_task_span, weak=False, dispatch_uid="agentic-otel-postrun")


def _inject_headers(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
    if sender in CONTINUED_TASKS and isinstance(headers, dict) and "traceparent" not in headers:
        propagate.inject(headers)


def _start_task_span(task_id: str = "", task: Any = None, args: Any = (), **kwargs: Any) -> None:
    if _tracer is None or getattr(task, "name", None) not in CONTINUED_TASKS:
        return
    from opentelemetry import context as otel_context

    parent = None  # the active context: the instrumentation's span, if any
    if not trace.get_current_span().get_span_context().is_valid:
        request = task.request
        headers = getattr(request, "headers", None) or {}
        carrier = {
            key: value
            for key in ("traceparent", "tracestate")
            if (value := getattr(request, key, None) or headers.get(key))
        }
        parent = propagate.extract(carrier)
    function = str(args[0]) if args else "task"
    span = _tracer.start_span(
        f"{PREFIX}.task {function}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={f"{PREFIX}.task.function": function},
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    _task_spans[task_id] = (span, token)


def _end_task_span(task_id: str = "", state: str = "", **kwargs: Any) -> None:
    entry = _task_spans.pop(task_id, None)
    if entry is None:
        return
    from opentelemetry import context as otel_context

    span, token = entry
    if state and state != "SUCCESS":
        span.set_status(Status(StatusCode.ERROR, state))
    otel_context.detach(token)
    span.end()
