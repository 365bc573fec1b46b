"""Usage figures per agent over a period, computed by the database.

Everything here is an aggregate query (``values(...).annotate(...)``): the number
of queries is a small constant per agent and never grows with the number of
traces, and no row is loaded into Python. Python only merges the aggregated rows
(one per agent, or per agent and day).

Where the figures come from:

* requests and outcomes: :class:`~agentic_django.models.ExecutionTrace` (one row per
  request, whatever its outcome; a worker carrying out an approved action writes a
  trace of its own, so it counts as a request too);
* LLM cost and tokens: :class:`~agentic_django.models.LLMCall`, the same rows the
  budget policies count, so the dashboard and the budgets agree (a trace's own
  totals are the sum of its calls);
* approvals: :class:`~agentic_django.models.ApprovalRequest`, by the time they were asked;
* latency percentiles of ``ExecutionTrace.duration_ms`` by linear interpolation
  between the closest ranks (PostgreSQL's ``percentile_cont``): ``PERCENTILE_CONT`` on
  PostgreSQL, an ordered ``OFFSET`` query per agent and percentile elsewhere.

Days are calendar days in the active time zone (``TIME_ZONE``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DateField,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..models import ApprovalRequest, ExecutionTrace, LLMCall
from ..models.approvals import ApprovalStatus
from ..models.traces import TraceStatus

#: The longest period a report covers, in calendar days.
MAX_PERIOD_DAYS = 366
#: The calendar days a period may cover.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(9998, 12, 31)
#: The precision of stored costs (``cost_usd`` columns have six decimal places).
MICRO_USD = Decimal("0.000001")
#: Latency percentiles reported per agent and overall.
PERCENTILES = {"p50_ms": 0.50, "p95_ms": 0.95}
#: Approval states a person (or the worker after a person) has settled; ``expired``
#: is counted apart, since nobody decided it.
DECIDED_APPROVALS = (
    ApprovalStatus.APPROVED,
    ApprovalStatus.REJECTED,
    ApprovalStatus.EXECUTING,
    ApprovalStatus.EXECUTED,
    ApprovalStatus.FAILED,
)


class InvalidPeriod(ValueError):
    """A period that cannot be reported on (reversed, too long, or empty)."""


@dataclass(frozen=True)
class Period:
    """The half-open interval ``[start, end)`` of aware datetimes a report covers."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if timezone.is_naive(self.start) or timezone.is_naive(self.end):
            raise InvalidPeriod("A period needs time-zone aware datetimes.")
        if self.end <= self.start:
            raise InvalidPeriod("The end of a period must come after its start.")

    @classmethod
    def last_hours(cls, hours: int, *, now: datetime | None = None) -> Period:
        """The ``hours`` up to ``now``."""
        now = now or timezone.now()
        return cls(now - timedelta(hours=hours), now)

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> Period:
        """Today so far and the ``days - 1`` calendar days before it."""
        now = now or timezone.now()
        first = timezone.localdate(now) - timedelta(days=days - 1)
        return cls(_midnight(first), now)

    @classmethod
    def between(cls, first: date, last: date) -> Period:
        """The calendar days ``first`` to ``last``, both included."""
        if first < EARLIEST_DAY or last > LATEST_DAY:
            # Beyond these, midnight in the current time zone (or the day after the
            # end) is outside what ``datetime`` can represent.
            raise InvalidPeriod(
                f"Dates must lie between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}."
            )
        if last < first:
            raise InvalidPeriod("The end date must not be before the start date.")
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise InvalidPeriod(f"A period covers at most {MAX_PERIOD_DAYS} days.")
        return cls(_midnight(first), _midnight(last + timedelta(days=1)))

    def days(self) -> list[date]:
        """The calendar days the period touches, in order."""
        first = timezone.localdate(self.start)
        last = timezone.localdate(self.end - timedelta(microseconds=1))
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass
class AgentUsage:
    """What one agent (or, as totals, every agent) did over the period."""

    endpoint_name: str
    requests: int = 0
    errors: int = 0
    policy_denied: int = 0
    budget_exceeded: int = 0
    agent_disabled: int = 0
    approvals_pending: int = 0
    approvals_decided: int = 0
    approvals_expired: int = 0
    llm_calls: int = 0
    cost_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class DailyUsage:
    """One agent's figures on one calendar day."""

    endpoint_name: str
    day: date
    requests: int = 0
    errors: int = 0
    cost_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class UsageReport:
    """Per-agent figures, per-agent-per-day figures and totals over one period."""

    period: Period
    endpoint_name: str | None
    agents: list[AgentUsage]
    daily: list[DailyUsage]
    totals: AgentUsage
    days: list[date] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.agents

    def daily_values(self, metric: str) -> dict[str, list[float]]:
        """``{agent: [value on each of self.days]}`` for ``metric`` of :class:`DailyUsage`."""
        position = {day: index for index, day in enumerate(self.days)}
        values = {agent.endpoint_name: [0.0] * len(self.days) for agent in self.agents}
        for row in self.daily:
            values[row.endpoint_name][position[row.day]] = float(getattr(row, metric))
        return values


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``.

    Linear interpolation between the two closest ranks; Django has no built-in for it.
    """

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)r) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float, **extra: Any) -> None:
        fraction = float(fraction)  # formatted into the SQL: a float, never a string
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"A percentile fraction lies between 0 and 1, not {fraction}.")
        super().__init__(expression, fraction=fraction, **extra)


def usage_report(period: Period, *, endpoint_name: str | None = None) -> UsageReport:
    """The dashboard's figures over ``period``, for every agent or only ``endpoint_name``."""
    traces = _in_period(ExecutionTrace.objects.all(), period, endpoint_name)
    calls = _in_period(LLMCall.objects.all(), period, endpoint_name)
    approvals = _in_period(ApprovalRequest.objects.all(), period, endpoint_name)

    agents: dict[str, AgentUsage] = {}

    def agent(name: str) -> AgentUsage:
        return agents.setdefault(name, AgentUsage(name))

    for row in traces.values("endpoint_name").annotate(**_trace_counts()):
        _fill(agent(row.pop("endpoint_name")), row)
    for row in calls.values("endpoint_name").annotate(**_llm_sums()):
        _fill(agent(row.pop("endpoint_name")), row)
    for row in approvals.values("endpoint_name").annotate(**_approval_counts()):
        _fill(agent(row.pop("endpoint_name")), row)
    requests = {name: usage.requests for name, usage in agents.items() if usage.requests}
    for name, figures in latency_percentiles(traces, requests).items():
        _fill(agents[name], figures)

    daily: dict[tuple[str, date], DailyUsage] = {}
    for source, sums in (
        (traces, {"requests": Count("pk"), "errors": _status_count(TraceStatus.ERROR)}),
        (calls, _llm_sums(with_calls=False)),
    ):
        rows = source.annotate(day=local_day(period)).values("endpoint_name", "day")
        for row in rows.annotate(**sums):
            key = (row.pop("endpoint_name"), row.pop("day"))
            _fill(daily.setdefault(key, DailyUsage(*key)), row)

    ordered = [agents[name] for name in sorted(agents)]
    totals = _totals(ordered)
    if totals.requests:
        _fill(totals, _overall_percentiles(traces, totals.requests))
    return UsageReport(
        period=period,
        endpoint_name=endpoint_name,
        agents=ordered,
        daily=sorted(daily.values(), key=lambda row: (row.day, row.endpoint_name)),
        totals=totals,
        days=period.days(),
    )


def local_day(period: Period) -> Func:
    """``created_at``'s calendar day in the active time zone, for rows of ``period``.

    ``TruncDate`` everywhere but on SQLite, where Django converts each row's time
    zone in a Python function, which dominates the dashboard there. When the time
    zone keeps one UTC offset through the whole period (UTC, or no daylight saving
    change inside it), SQLite's own ``date(created_at, '+N seconds')`` gives the
    same days, natively.
    """
    if connection.vendor == "sqlite":
        moments = [_midnight(day) for day in period.days()[1:]] + [period.start, period.end]
        offsets = {timezone.localtime(moment).utcoffset() for moment in moments}
        if len(offsets) == 1 and (offset := offsets.pop()) is not None:
            shift = f"{int(offset.total_seconds()):+d} seconds"
            return Func(F("created_at"), Value(shift), function="date", output_field=DateField())
    return TruncDate("created_at")


def latency_percentiles(
    traces: QuerySet[ExecutionTrace], counts: dict[str, int]
) -> dict[str, dict[str, float]]:
    """``{agent: {"p50_ms": …, "p95_ms": …}}`` of ``duration_ms`` over ``traces``.

    ``counts`` maps each agent wanted to its number of traces (known from the
    request counts), which the ``OFFSET`` path needs to find the ranks.
    """
    if not counts:
        return {}
    if connection.vendor == "postgresql":
        rows = (
            traces.filter(endpoint_name__in=list(counts))
            .values("endpoint_name")
            .annotate(**{key: PercentileCont("duration_ms", f) for key, f in PERCENTILES.items()})
            .order_by()
        )
        return {row.pop("endpoint_name"): row for row in rows}
    return {
        name: _percentiles_by_offset(traces.filter(endpoint_name=name), count)
        for name, count in counts.items()
        if count
    }


def _overall_percentiles(traces: QuerySet[ExecutionTrace], count: int) -> dict[str, float]:
    if connection.vendor == "postgresql":
        return traces.order_by().aggregate(
            **{key: PercentileCont("duration_ms", f) for key, f in PERCENTILES.items()}
        )
    return _percentiles_by_offset(traces, count)


def _percentiles_by_offset(traces: QuerySet[ExecutionTrace], count: int) -> dict[str, float]:
    """Each percentile from the (at most two) rows around its rank: one query each."""
    ordered = traces.order_by("duration_ms").values_list("duration_ms", flat=True)
    figures: dict[str, float] = {}
    for key, fraction in PERCENTILES.items():
        rank = fraction * (count - 1)
        below = math.floor(rank)
        around = list(ordered[below : below + 2])
        if not around:  # rows deleted since they were counted (retention cleanup)
            continue
        low = around[0]
        high = around[1] if len(around) > 1 else low
        figures[key] = low + (high - low) * (rank - below)
    return figures


def _in_period(queryset: QuerySet[Any], period: Period, endpoint_name: str | None) -> QuerySet[Any]:
    queryset = queryset.filter(created_at__gte=period.start, created_at__lt=period.end)
    if endpoint_name is not None:
        queryset = queryset.filter(endpoint_name=endpoint_name)
    return queryset


def _status_count(*statuses: str) -> Count:
    return Count("pk", filter=Q(status__in=statuses))


def _trace_counts() -> dict[str, Any]:
    return {
        "requests": Count("pk"),
        "errors": _status_count(TraceStatus.ERROR),
        "policy_denied": _status_count(TraceStatus.POLICY_DENIED),
        "budget_exceeded": _status_count(TraceStatus.BUDGET_EXCEEDED),
        "agent_disabled": _status_count(TraceStatus.AGENT_DISABLED),
    }


def _llm_sums(*, with_calls: bool = True) -> dict[str, Any]:
    sums: dict[str, Any] = {
        "cost_usd": Sum("cost_usd"),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
    }
    if with_calls:
        sums["llm_calls"] = Count("pk")
    return sums


def _approval_counts() -> dict[str, Any]:
    return {
        "approvals_pending": _status_count(ApprovalStatus.PENDING),
        "approvals_decided": _status_count(*DECIDED_APPROVALS),
        "approvals_expired": _status_count(ApprovalStatus.EXPIRED),
    }


def _fill(target: AgentUsage | DailyUsage, figures: dict[str, Any]) -> None:
    for name, value in figures.items():
        if value is None:
            continue
        if name == "cost_usd":
            # SQLite sums decimals as floats: back to the column's six places.
            value = Decimal(value).quantize(MICRO_USD)
        setattr(target, name, value)


#: The additive figures of :class:`AgentUsage`, summed into the totals.
_ADDITIVE = [
    f.name for f in fields(AgentUsage) if f.name not in ("endpoint_name", "p50_ms", "p95_ms")
]


def _totals(agents: list[AgentUsage]) -> AgentUsage:
    totals = AgentUsage("")
    for usage in agents:
        for name in _ADDITIVE:
            setattr(totals, name, getattr(totals, name) + getattr(usage, name))
    return totals
