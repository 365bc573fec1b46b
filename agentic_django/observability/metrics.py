"""Prometheus metrics of the agent endpoints (extra ``prometheus``).

Most metrics are derived from what is recorded anyway, so the request path pays
nothing extra: a stored ``ExecutionTrace`` (requests, latency, policy denials,
sandbox runs and violations, budget refusals, code-cache lookups) and the
approval signals (approvals by state, wait time). LLM calls and stream events
are counted where they are recorded; live runs are counted in the database when
Prometheus scrapes, so every process reports the same number.

Labels never carry user data: no user ids, intents, session ids or free text.
Every label value is either one of a known, small set (statuses, purposes) or a
name taken from configuration (endpoints, providers, models, policies), clamped
to a short identifier; anything else is reported as ``"other"``.

Without ``prometheus_client`` installed, :data:`enabled` is false and every
function here returns at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

logger = logging.getLogger("agentic_django.metrics")

try:
    import prometheus_client
    from prometheus_client import Counter, Histogram
    from prometheus_client.core import GaugeMetricFamily
except ImportError:  # the extra is not installed
    prometheus_client = None  # type: ignore[assignment]

enabled = prometheus_client is not None

#: Metric names, the public contract of dashboards and alerts (``_total`` is added
#: to counters on exposition).
REQUESTS = "agentic_requests"
REQUEST_DURATION = "agentic_request_duration_seconds"
LLM_CALLS = "agentic_llm_calls"
LLM_TOKENS = "agentic_llm_tokens"
LLM_COST = "agentic_llm_cost_usd"
POLICY_DENIALS = "agentic_policy_denials"
SANDBOX_EXECUTIONS = "agentic_sandbox_executions"
SANDBOX_VIOLATIONS = "agentic_sandbox_violations"
APPROVALS = "agentic_approvals"
APPROVAL_WAIT = "agentic_approval_wait_seconds"
RUNS_LIVE = "agentic_runs_live"
STREAM_EVENTS = "agentic_stream_events"
BUDGET_REFUSALS = "agentic_budget_refusals"
CODE_CACHE_LOOKUPS = "agentic_code_cache_lookups"

OTHER = "other"
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,79}")

# Request latency spans a cached answer (milliseconds) to an agent loop (minutes).
_REQUEST_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# A person decides in minutes to a day.
_WAIT_BUCKETS = (10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600)

if prometheus_client is not None:
    _requests = Counter(REQUESTS, "Agent requests by endpoint and outcome.", ["endpoint", "status"])
    _request_duration = Histogram(
        REQUEST_DURATION,
        "Time to answer an agent request.",
        ["endpoint"],
        buckets=_REQUEST_BUCKETS,
    )
    _llm_calls = Counter(
        LLM_CALLS,
        "LLM calls by provider, model, purpose and outcome.",
        ["provider", "model", "purpose", "outcome"],
    )
    _llm_tokens = Counter(
        LLM_TOKENS,
        "LLM tokens by provider, model, purpose and direction.",
        ["provider", "model", "purpose", "direction"],
    )
    _llm_cost = Counter(LLM_COST, "LLM cost in US dollars.", ["provider", "model", "purpose"])
    _policy_denials = Counter(POLICY_DENIALS, "Policy denials by policy.", ["policy"])
    _sandbox_executions = Counter(
        SANDBOX_EXECUTIONS, "Generated code run in a sandbox, by backend.", ["backend"]
    )
    _sandbox_violations = Counter(
        SANDBOX_VIOLATIONS, "Generated code stopped by the harness, by kind.", ["kind"]
    )
    _approvals = Counter(APPROVALS, "Approval requests reaching a state.", ["state"])
    _approval_wait = Histogram(
        APPROVAL_WAIT,
        "Time from an approval request to its decision.",
        ["decision"],
        buckets=_WAIT_BUCKETS,
    )
    _stream_events = Counter(STREAM_EVENTS, "Events emitted by streamed runs.", ["kind"])
    _budget_refusals = Counter(
        BUDGET_REFUSALS, "Requests refused for an exhausted budget.", ["endpoint"]
    )
    _code_cache = Counter(CODE_CACHE_LOOKUPS, "Code-cache lookups by result.", ["result"])


def identifier(value: Any) -> str:
    """``value`` when it is a short configuration-like name, else ``"other"``."""
    text = str(value or "")
    return text if _IDENTIFIER.fullmatch(text) else OTHER


def one_of(value: Any, allowed: Iterable[str]) -> str:
    text = str(value or "")
    return text if text in allowed else OTHER


def endpoint_label(name: str) -> str:
    """The endpoint's name when it is registered (a bounded set), else ``"other"``."""
    from ..registry import agents

    return name if name in agents else OTHER


def observe_llm_call(call: Any) -> None:
    """Count one recorded LLM call (a ``RecordedCall``): calls, tokens and cost."""
    if not enabled:
        return
    provider, model = identifier(call.provider), identifier(call.model)
    purpose = identifier(call.purpose)
    _llm_calls.labels(provider, model, purpose, "error" if call.error else "ok").inc()
    if call.input_tokens:
        _llm_tokens.labels(provider, model, purpose, "input").inc(call.input_tokens)
    if call.output_tokens:
        _llm_tokens.labels(provider, model, purpose, "output").inc(call.output_tokens)
    if call.cost_usd:
        _llm_cost.labels(provider, model, purpose).inc(float(Decimal(call.cost_usd)))


def observe_stream_event(kind: str) -> None:
    """Count one event emitted by a streamed run (kinds are the protocol's names)."""
    if enabled:
        _stream_events.labels(identifier(kind)).inc()


def observe_trace(trace: Any) -> None:
    """Everything a stored ``ExecutionTrace`` tells: request, denials, sandbox, cache."""
    from ..models import TraceStatus

    if not enabled:
        return
    endpoint = endpoint_label(trace.endpoint_name)
    status = one_of(trace.status, TraceStatus.values)
    _requests.labels(endpoint, status).inc()
    _request_duration.labels(endpoint).observe(max(float(trace.duration_ms or 0), 0) / 1000)
    if status == TraceStatus.BUDGET_EXCEEDED:
        _budget_refusals.labels(endpoint).inc()
    for policy in denied_policies(trace.policy_evaluations):
        _policy_denials.labels(identifier(policy)).inc()
    report = trace.harness_report if isinstance(trace.harness_report, dict) else {}
    cache = report.get("code_cache")
    if cache in ("hit", "miss"):
        _code_cache.labels(cache).inc()
    sandbox = report.get("sandbox")
    if isinstance(sandbox, dict):
        _sandbox_executions.labels(identifier(sandbox.get("backend"))).inc()
    for kind in violation_kinds(report, trace.error_type):
        _sandbox_violations.labels(kind).inc()


def denied_policies(evaluations: Any) -> list[str]:
    """Names of the policies that denied, from ``ExecutionTrace.policy_evaluations``."""
    names = []
    for stage in evaluations if isinstance(evaluations, list) else []:
        results = stage.get("results") if isinstance(stage, dict) else None
        for result in results if isinstance(results, list) else []:
            if isinstance(result, dict) and result.get("allowed") is False:
                names.append(str(result.get("policy_name") or OTHER))
    return names


def violation_kinds(report: dict[str, Any], error_type: str) -> list[str]:
    """How the harness stopped generated code: static analysis, a monitor, the sandbox."""
    kinds = []
    analysis = report.get("static_analysis")
    if isinstance(analysis, dict) and analysis.get("ok") is False:
        kinds.append("static_analysis")
    for verdict in report.get("monitors") or []:
        if isinstance(verdict, dict) and verdict.get("ok") is False:
            kinds.append(f"monitor:{identifier(verdict.get('monitor'))}")
    if error_type.startswith("Sandbox"):
        kinds.append(identifier(error_type))
    return kinds


def observe_approval(event: str, request: Any) -> None:
    """Count an approval reaching a state; on a decision, how long it waited."""
    if not enabled:
        return
    from ..models import ApprovalStatus

    state = "requested" if event == "requested" else one_of(request.status, ApprovalStatus.values)
    _approvals.labels(state).inc()
    if event == "decided" and request.decided_at and request.created_at:
        waited = (request.decided_at - request.created_at).total_seconds()
        _approval_wait.labels(state).observe(max(waited, 0.0))


class LiveRunsCollector:
    """``agentic_runs_live``: streamed runs still running or waiting, read at scrape time.

    Counted in the database rather than kept in a process's gauge, so it is right
    whichever worker process answers the scrape, and after a process dies.
    """

    def collect(self) -> Iterator[Any]:
        from django.db.models import Count

        from ..models import AgentRun
        from ..models.runs import LIVE_RUN_STATES

        family = GaugeMetricFamily(RUNS_LIVE, "Streamed runs not finished yet.", labels=["status"])
        counts = dict.fromkeys((str(state) for state in LIVE_RUN_STATES), 0)
        try:
            rows = list(
                AgentRun.objects.filter(status__in=LIVE_RUN_STATES)
                .values_list("status")
                .annotate(n=Count("pk"))
                .order_by()
            )
        except Exception:
            # The database is away (or this is an event loop): the other metrics still go out.
            logger.warning("Counting live runs for the metrics failed", exc_info=True)
            return
        for status, count in rows:
            counts[str(status)] = count
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family


def connect_receivers() -> None:
    """Listen to stored traces and approval signals (called from ``AppConfig.ready``)."""
    if not enabled:
        return
    from django.db.models.signals import post_save

    from .. import signals
    from ..models import ExecutionTrace

    def trace_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        if created:
            _safely(observe_trace, instance)

    post_save.connect(
        trace_saved, sender=ExecutionTrace, weak=False, dispatch_uid="agentic-metrics"
    )
    for event in ("requested", "decided", "executed", "expired"):
        signal = getattr(signals, f"approval_{event}")
        signal.connect(
            _approval_receiver(event), weak=False, dispatch_uid=f"agentic-metrics-{event}"
        )


def _approval_receiver(event: str) -> Any:
    def receive(sender: Any, request: Any, **kwargs: Any) -> None:
        _safely(observe_approval, event, request)

    return receive


def _safely(func: Any, *args: Any) -> None:
    # Metrics must never fail a request or a worker.
    try:
        func(*args)
    except Exception:
        logger.exception("Recording metrics failed")
