"""Everything the trace page shows about one request, read with a fixed number of queries.

The trace's JSON columns (policy evaluations, tool calls, harness report) are turned
into rows a template can lay out, tolerating shapes older or newer code may have
written. The related rows (LLM calls, runs, approvals) are read once each; a run's
stream events, which may number tens of thousands, are summarised by the database
(counts per kind) and shown from both ends, the rest page by page by ``seq``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count
from django.utils.safestring import SafeString

from ..models import AgentRun, ApprovalRequest, ExecutionTrace, LLMCall, StreamEvent
from .highlight import highlight_python

#: Events shown from each end of a run.
EVENTS_AT_EACH_END = 25
#: Events per page between the two ends.
EVENTS_PER_PAGE = 100
#: Characters of an event's payload shown in the timeline.
PAYLOAD_CHARS = 200

# Keys of a harness report section that list what went wrong rather than describe it.
_ISSUE_KEYS = ("violations", "errors", "warnings")


@dataclass(frozen=True)
class PolicyRow:
    """One policy's decision at one stage of the request."""

    stage: str
    policy_name: str
    allowed: bool
    violations: list[str]
    warnings: list[str]


@dataclass(frozen=True)
class ToolCallRow:
    """One tool call the agent made, with its arguments as indented JSON."""

    iteration: Any
    tool: str
    arguments: str
    duration_ms: float | None
    result: str
    error: str


@dataclass(frozen=True)
class HarnessRow:
    """One section of the harness report: a one-line summary and the full JSON.

    ``ok`` is None when the section is not a pass/fail check.
    """

    section: str
    summary: str
    ok: bool | None
    issues: list[str]
    detail: str


@dataclass(frozen=True)
class LLMTotals:
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    latency_ms: float


@dataclass(frozen=True)
class EventRow:
    seq: int
    kind: str
    created_at: datetime
    payload: str


@dataclass(frozen=True)
class EventTimeline:
    """A run's events: counts per kind, both ends, and optionally one page of the middle."""

    run: AgentRun
    counts: list[tuple[str, int]]
    total: int
    first: list[EventRow]
    last: list[EventRow]
    #: Events between the two ends, not shown unless a page of them is.
    between: int
    #: The middle, paginated; ``page`` is the one asked for, if any.
    paginator: Paginator | None = None
    page: Page | None = None
    page_rows: list[EventRow] = field(default_factory=list)
    #: Page numbers to link to, with ``Paginator.ELLIPSIS`` where some are left out.
    page_links: list[int | str] = field(default_factory=list)


@dataclass(frozen=True)
class TraceInspection:
    """What the trace page shows beyond the trace's own columns."""

    trace: ExecutionTrace
    parameters: str
    result: str
    checkpoint: str
    code_html: SafeString
    policies: list[PolicyRow]
    tool_calls: list[ToolCallRow]
    harness: list[HarnessRow]
    llm_calls: list[LLMCall]
    llm_totals: LLMTotals
    runs: list[AgentRun]
    timeline: EventTimeline | None
    #: The approval this trace carried out (the trace of an approved action).
    carried_out: ApprovalRequest | None
    #: The approvals this trace asked for.
    requested: list[ApprovalRequest]


def inspect_trace(trace: ExecutionTrace, *, events_page: int | None = None) -> TraceInspection:
    """Gather the trace page's sections; ``events_page`` picks a page of the run's events."""
    llm_calls = list(trace.llm_calls.order_by("created_at", "pk"))
    runs = list(trace.runs.order_by("created_at", "pk"))
    approvals = ApprovalRequest.objects.select_related("decided_by", "requested_by")
    carried_out = None
    if trace.approval_request_id is not None:
        carried_out = approvals.filter(pk=trace.approval_request_id).first()
    return TraceInspection(
        trace=trace,
        parameters=_json(trace.intent_parameters),
        result=_json(trace.result),
        checkpoint=_json(trace.checkpoint) if trace.checkpoint is not None else "",
        code_html=highlight_python(trace.generated_code),
        policies=policy_rows(trace.policy_evaluations),
        tool_calls=tool_call_rows(trace.tool_calls),
        harness=harness_rows(trace.harness_report),
        llm_calls=llm_calls,
        llm_totals=llm_totals(llm_calls),
        runs=runs,
        # A trace normally has one run; when it has more, the latest is the one that ended it.
        timeline=event_timeline(runs[-1], events_page) if runs else None,
        carried_out=carried_out,
        requested=list(approvals.filter(trace=trace).order_by("created_at", "pk")),
    )


def policy_rows(evaluations: Any) -> list[PolicyRow]:
    """The ``policy_evaluations`` JSON (``[{"stage", "results": [...]}]``) as flat rows."""
    rows = []
    for evaluation in _dicts(evaluations):
        stage = str(evaluation.get("stage", ""))
        for result in _dicts(evaluation.get("results")):
            rows.append(
                PolicyRow(
                    stage=stage,
                    policy_name=str(result.get("policy_name", "")),
                    allowed=bool(result.get("allowed", True)),
                    violations=_texts(result.get("violations")),
                    warnings=_texts(result.get("warnings")),
                )
            )
    return rows


def tool_call_rows(calls: Any) -> list[ToolCallRow]:
    """The ``tool_calls`` JSON (``ToolCallRecord.to_json()`` dicts) as rows."""
    rows = []
    for call in _dicts(calls):
        duration = call.get("duration_ms")
        rows.append(
            ToolCallRow(
                iteration=call.get("iteration", ""),
                tool=str(call.get("tool") or call.get("name") or ""),
                arguments=_json(call.get("arguments", {})),
                duration_ms=float(duration) if isinstance(duration, int | float) else None,
                result=_text(call.get("result_summary", call.get("result", ""))),
                error=_text(call.get("error")),
            )
        )
    return rows


def harness_rows(report: Any) -> list[HarnessRow]:
    """Each section of the ``harness_report`` JSON, summarised on one line."""
    if not isinstance(report, dict):
        return []
    return [_harness_row(str(section), value) for section, value in report.items()]


def llm_totals(calls: Sequence[LLMCall]) -> LLMTotals:
    """What ``calls`` add up to; the trace's own token and cost columns should agree."""
    return LLMTotals(
        calls=len(calls),
        input_tokens=sum(call.input_tokens for call in calls),
        output_tokens=sum(call.output_tokens for call in calls),
        cost_usd=sum((call.cost_usd for call in calls), Decimal(0)),
        latency_ms=sum(call.latency_ms for call in calls),
    )


def event_timeline(run: AgentRun, page_number: int | None = None) -> EventTimeline:
    """``run``'s events without loading them all: at most four queries, whatever their number."""
    counts = [
        (row["kind"], row["n"])
        for row in run.events.values("kind").annotate(n=Count("pk")).order_by("kind")
    ]
    total = sum(n for _kind, n in counts)
    events = StreamEvent.objects.filter(run=run)
    if total <= 2 * EVENTS_AT_EACH_END:
        # Bounded all the same: a live run may have stored more since the count.
        first = _event_rows(events.order_by("seq")[: 2 * EVENTS_AT_EACH_END])
        return EventTimeline(run=run, counts=counts, total=total, first=first, last=[], between=0)
    first = _event_rows(events.order_by("seq")[:EVENTS_AT_EACH_END])
    last = _event_rows(events.order_by("-seq")[:EVENTS_AT_EACH_END])[::-1]
    # Sequence numbers are dense, so a page of the middle is a range of them: an
    # indexed range scan, however deep the page.
    low, high = first[-1].seq + 1, last[0].seq
    paginator = Paginator(range(low, high), EVENTS_PER_PAGE)
    page, page_rows = None, []
    if page_number is not None and high > low:
        page = paginator.get_page(page_number)
        seqs = page.object_list
        page_rows = _event_rows(events.filter(seq__gte=seqs[0], seq__lte=seqs[-1]).order_by("seq"))
    return EventTimeline(
        run=run,
        counts=counts,
        total=total,
        first=first,
        last=last,
        between=total - len(first) - len(last),
        paginator=paginator,
        page=page,
        page_rows=page_rows,
        page_links=list(
            paginator.get_elided_page_range(page.number if page else 1, on_each_side=2, on_ends=1)
        ),
    )


# --- helpers ---------------------------------------------------------------------------


def _event_rows(events: Any) -> list[EventRow]:
    return [
        EventRow(seq=seq, kind=kind, created_at=created_at, payload=_payload(payload))
        for seq, kind, created_at, payload in events.values_list(
            "seq", "kind", "created_at", "payload"
        )
    ]


def _payload(payload: Any) -> str:
    if isinstance(payload, dict):
        # The kind and seq are columns of their own.
        payload = {k: v for k, v in payload.items() if k not in ("kind", "seq")}
    text = json.dumps(payload, default=str, ensure_ascii=False)
    return text if len(text) <= PAYLOAD_CHARS else text[: PAYLOAD_CHARS - 1] + "…"


def _harness_row(section: str, value: Any) -> HarnessRow:
    detail = _json(value)
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        checks = [item for item in value if "ok" in item]
        if checks:
            summary = ", ".join(
                f"{_check_name(item)}: {'ok' if item['ok'] else 'failed'}" for item in checks
            )
            issues = [issue for item in checks for issue in _issues(item)]
            passed = all(bool(item["ok"]) for item in checks)
            return HarnessRow(section, summary, passed, issues, detail)
        return HarnessRow(section, f"{len(value)} entries", None, [], detail)
    if isinstance(value, dict):
        verdict = bool(value["ok"]) if "ok" in value else None
        return HarnessRow(section, _dict_summary(value), verdict, _issues(value), detail)
    if isinstance(value, list):
        return HarnessRow(section, ", ".join(_text(item) for item in value), None, [], detail)
    return HarnessRow(section, _text(value), None, [], detail)


def _dict_summary(value: dict[str, Any]) -> str:
    """Scalars as ``key: value``; flags (a dict of booleans) as the names of those set."""
    parts = []
    for key, item in value.items():
        if key == "ok" or key in _ISSUE_KEYS:
            continue
        if isinstance(item, bool | int | float) or (isinstance(item, str) and len(item) <= 80):
            if item != "":
                parts.append(f"{key}: {item}")
        elif isinstance(item, dict) and item and all(isinstance(v, bool) for v in item.values()):
            parts.append(f"{key}: {', '.join(k for k, v in item.items() if v) or 'none'}")
    return "; ".join(parts)


def _check_name(item: dict[str, Any]) -> str:
    return str(item.get("monitor") or item.get("validator") or item.get("name") or "check")


def _issues(item: dict[str, Any]) -> list[str]:
    return [issue for key in _ISSUE_KEYS for issue in _texts(item.get(key))]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    return [_issue_text(item) for item in items]


def _issue_text(item: Any) -> str:
    if isinstance(item, dict) and "message" in item:
        # A static analysis violation: {"line", "col", "rule", "message"}.
        where = f"line {item['line']}: " if "line" in item else ""
        rule = f" [{item['rule']}]" if item.get("rule") else ""
        return f"{where}{item['message']}{rule}"
    return _text(item)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
