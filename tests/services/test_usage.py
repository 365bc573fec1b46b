"""Usage figures by database aggregation: per agent, per day, totals and percentiles."""

from __future__ import annotations

import random
import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models.functions import TruncDate
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentic_django.models import ApprovalRequest, ExecutionTrace, LLMCall
from agentic_django.services.usage import (
    MAX_PERIOD_DAYS,
    InvalidPeriod,
    PercentileCont,
    Period,
    local_day,
    usage_report,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=ZoneInfo("UTC"))
WEEK = Period(NOW - timedelta(days=7), NOW)
#: When rows are stored unless a test says otherwise: inside WEEK.
AN_HOUR_AGO = NOW - timedelta(hours=1)


def trace(
    endpoint: str, status: str = "completed", *, at: datetime = AN_HOUR_AGO, ms: float = 10.0
):
    return ExecutionTrace(
        endpoint_name=endpoint,
        status=status,
        intent_raw="question",
        duration_ms=ms,
        created_at=at,
    )


def add_traces(*traces: ExecutionTrace) -> None:
    ExecutionTrace.objects.bulk_create(traces)


def call(
    endpoint: str, cost: str, tokens: tuple[int, int] = (100, 20), *, at: datetime = AN_HOUR_AGO
):
    return LLMCall.objects.create(
        endpoint_name=endpoint,
        alias="default",
        provider="mock",
        model="mock",
        purpose="loop",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=Decimal(cost),
        created_at=at,
    )


def approval(endpoint: str, status: str, *, at: datetime = AN_HOUR_AGO) -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        kind="code",
        status=status,
        endpoint_name=endpoint,
        rule_name="writes",
        action={"code": "x = 1"},
        fingerprint="f",
        expires_at=NOW + timedelta(hours=1),
        created_at=at,
    )


def test_each_agent_gets_its_requests_outcomes_approvals_and_llm_usage():
    add_traces(
        trace("orders"),
        trace("orders"),
        trace("orders", "error"),
        trace("orders", "policy_denied"),
        trace("orders", "budget_exceeded"),
        trace("orders", "agent_disabled"),
        trace("orders", "pending_approval"),
        trace("refunds"),
    )
    call("orders", "0.010000", (1000, 200))
    call("orders", "0.002500", (300, 50))
    call("refunds", "0.100000", (5000, 900))
    for status in ("pending", "pending", "approved", "rejected", "executed", "failed", "expired"):
        approval("refunds", status)

    report = usage_report(WEEK)

    orders, refunds = report.agents
    assert (orders.endpoint_name, refunds.endpoint_name) == ("orders", "refunds")
    assert (orders.requests, orders.errors, orders.policy_denied) == (7, 1, 1)
    assert (orders.budget_exceeded, orders.agent_disabled) == (1, 1)
    assert orders.llm_calls == 2
    assert orders.cost_usd == Decimal("0.0125")
    assert (orders.input_tokens, orders.output_tokens, orders.tokens) == (1300, 250, 1550)
    assert (orders.approvals_pending, orders.approvals_decided) == (0, 0)
    assert refunds.requests == 1 and refunds.errors == 0
    assert (refunds.approvals_pending, refunds.approvals_decided) == (2, 4)
    assert refunds.approvals_expired == 1
    assert refunds.cost_usd == Decimal("0.1")


def test_totals_add_up_every_agent():
    add_traces(trace("orders"), trace("orders", "error"), trace("refunds", "error"))
    call("orders", "0.25")
    call("refunds", "0.50", (10, 5))
    approval("search", "pending")

    totals = usage_report(WEEK).totals

    assert (totals.requests, totals.errors, totals.llm_calls) == (3, 2, 2)
    assert totals.cost_usd == Decimal("0.75")
    assert (totals.input_tokens, totals.output_tokens) == (110, 25)
    assert totals.approvals_pending == 1


def test_latency_percentiles_interpolate_between_the_closest_ranks():
    durations = list(range(1, 101))
    random.Random(7).shuffle(durations)
    add_traces(*(trace("orders", ms=float(ms)) for ms in durations), trace("refunds", ms=7.0))

    report = usage_report(WEEK)

    orders, refunds = report.agents
    assert orders.p50_ms == pytest.approx(50.5)
    assert orders.p95_ms == pytest.approx(95.05)
    assert (refunds.p50_ms, refunds.p95_ms) == (pytest.approx(7.0), pytest.approx(7.0))
    # Overall: 1..100 and a 7, so 101 values whose middle one is 50.
    assert report.totals.p50_ms == pytest.approx(50.0)


def test_latency_percentiles_match_a_python_reference_on_uneven_data():
    generator = random.Random(11)
    samples = {
        name: [round(generator.lognormvariate(4, 1), 3) for _ in range(count)]
        for name, count in (("orders", 57), ("refunds", 2), ("search", 13))
    }
    add_traces(*(trace(name, ms=ms) for name, values in samples.items() for ms in values))

    report = usage_report(WEEK)

    for usage in report.agents:
        cuts = statistics.quantiles(samples[usage.endpoint_name], n=100, method="inclusive")
        assert usage.p50_ms == pytest.approx(cuts[49])
        assert usage.p95_ms == pytest.approx(cuts[94])


def test_agents_without_requests_have_no_latency():
    call("orders", "0.1")

    [orders] = usage_report(WEEK).agents

    assert orders.requests == 0 and orders.cost_usd == Decimal("0.1")
    assert orders.p50_ms is None and orders.p95_ms is None


def test_daily_rows_and_chart_values_per_agent_and_day():
    period = Period.between(date(2025, 3, 1), date(2025, 3, 3))
    day = lambda d, h=10: datetime(2025, 3, d, h, tzinfo=ZoneInfo("UTC"))  # noqa: E731
    add_traces(
        trace("orders", at=day(1)),
        trace("orders", "error", at=day(1)),
        trace("orders", at=day(3)),
        trace("refunds", at=day(2)),
    )
    call("orders", "0.30", (10, 1), at=day(1))
    call("orders", "0.20", (10, 1), at=day(3))
    call("refunds", "1.00", (10, 1), at=day(3))

    report = usage_report(period)

    assert report.days == [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]
    rows = {(row.endpoint_name, row.day): row for row in report.daily}
    assert set(rows) == {
        ("orders", date(2025, 3, 1)),
        ("orders", date(2025, 3, 3)),
        ("refunds", date(2025, 3, 2)),
        ("refunds", date(2025, 3, 3)),
    }
    first = rows["orders", date(2025, 3, 1)]
    assert (first.requests, first.errors, first.cost_usd, first.tokens) == (
        2,
        1,
        Decimal("0.3"),
        11,
    )
    assert rows["refunds", date(2025, 3, 3)].requests == 0
    assert report.daily_values("cost_usd") == {
        "orders": [0.3, 0.0, 0.2],
        "refunds": [0.0, 0.0, 1.0],
    }
    assert report.daily_values("requests") == {
        "orders": [2.0, 0.0, 1.0],
        "refunds": [0.0, 1.0, 0.0],
    }


def test_days_are_calendar_days_of_the_active_time_zone():
    new_york = ZoneInfo("America/New_York")
    late_evening = datetime(2025, 3, 4, 23, 30, tzinfo=new_york)  # 04:30 UTC on the 5th
    add_traces(
        trace("orders", at=late_evening), trace("orders", at=late_evening + timedelta(hours=1))
    )

    with timezone.override(new_york):
        report = usage_report(Period.between(date(2025, 3, 4), date(2025, 3, 5)))
    with timezone.override(ZoneInfo("UTC")):
        utc_report = usage_report(Period.between(date(2025, 3, 4), date(2025, 3, 5)))

    assert [(row.day, row.requests) for row in report.daily] == [
        (date(2025, 3, 4), 1),
        (date(2025, 3, 5), 1),
    ]
    assert [(row.day, row.requests) for row in utc_report.daily] == [(date(2025, 3, 5), 2)]


def test_days_follow_a_daylight_saving_change_inside_the_period():
    new_york = ZoneInfo("America/New_York")  # clocks go forward at 02:00 on 9 March 2025
    moments = [
        datetime(2025, 3, 8, 23, 30, tzinfo=new_york),  # EST
        datetime(2025, 3, 9, 23, 30, tzinfo=new_york),  # EDT
        datetime(2025, 3, 10, 0, 30, tzinfo=new_york),  # EDT; 23:30 the day before in EST
    ]
    add_traces(*(trace("orders", at=moment) for moment in moments))

    with timezone.override(new_york):
        report = usage_report(Period.between(date(2025, 3, 8), date(2025, 3, 10)))

    assert [(row.day, row.requests) for row in report.daily] == [
        (date(2025, 3, 8), 1),
        (date(2025, 3, 9), 1),
        (date(2025, 3, 10), 1),
    ]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the native day is SQLite's path")
def test_sqlite_groups_days_natively_when_the_offset_is_fixed():
    with timezone.override(ZoneInfo("Asia/Kolkata")):  # +05:30 all year
        fixed = Period.between(date(2025, 3, 1), date(2025, 3, 31))
        assert not isinstance(local_day(fixed), TruncDate)
    with timezone.override(ZoneInfo("Europe/Paris")):  # summer time from 30 March 2025
        assert isinstance(local_day(Period.between(date(2025, 3, 1), date(2025, 4, 2))), TruncDate)


def test_days_with_a_half_hour_offset():
    kolkata = ZoneInfo("Asia/Kolkata")
    add_traces(
        trace("orders", at=datetime(2025, 3, 1, 23, 59, tzinfo=kolkata)),  # 18:29 UTC
        trace("orders", at=datetime(2025, 3, 2, 0, 1, tzinfo=kolkata)),  # 18:31 UTC, 1 March
    )

    with timezone.override(kolkata):
        report = usage_report(Period.between(date(2025, 3, 1), date(2025, 3, 2)))

    assert [(row.day, row.requests) for row in report.daily] == [
        (date(2025, 3, 1), 1),
        (date(2025, 3, 2), 1),
    ]


def test_a_period_includes_its_start_and_excludes_its_end():
    period = Period(NOW - timedelta(days=1), NOW)
    add_traces(
        trace("orders", at=period.start),
        trace("orders", at=period.end),
        trace("orders", at=period.start - timedelta(microseconds=1)),
    )
    call("orders", "1", at=period.end)
    approval("orders", "pending", at=period.end)

    [orders] = usage_report(period).agents

    assert orders.requests == 1
    assert (orders.llm_calls, orders.approvals_pending) == (0, 0)


def test_a_custom_range_covers_whole_local_days():
    paris = ZoneInfo("Europe/Paris")
    with timezone.override(paris):
        period = Period.between(date(2025, 3, 1), date(2025, 3, 2))
        days = period.days()
    assert period.start == datetime(2025, 3, 1, tzinfo=paris)
    assert period.end == datetime(2025, 3, 3, tzinfo=paris)
    assert days == [date(2025, 3, 1), date(2025, 3, 2)]


def test_last_days_start_at_local_midnight_and_end_now():
    with timezone.override(ZoneInfo("UTC")):
        period = Period.last_days(7, now=NOW)
        hours = Period.last_hours(24, now=NOW)
    assert period.start == datetime(2025, 3, 4, tzinfo=ZoneInfo("UTC"))
    assert period.end == NOW
    assert len(period.days()) == 7
    assert hours.start == NOW - timedelta(hours=24)
    assert hours.days() == [date(2025, 3, 9), date(2025, 3, 10)]


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2025, 3, 2), date(2025, 3, 1)),
        (date(2024, 1, 1), date(2024, 1, 1) + timedelta(days=MAX_PERIOD_DAYS)),
    ],
)
def test_reversed_or_too_long_ranges_are_refused(first, last):
    with pytest.raises(InvalidPeriod):
        Period.between(first, last)


def test_the_longest_range_is_allowed():
    period = Period.between(date(2024, 1, 1), date(2024, 1, 1) + timedelta(MAX_PERIOD_DAYS - 1))
    assert len(period.days()) == MAX_PERIOD_DAYS


def test_naive_datetimes_are_refused():
    with pytest.raises(InvalidPeriod):
        Period(datetime(2025, 3, 1), datetime(2025, 3, 2))


def test_an_empty_period_gives_an_empty_report():
    add_traces(trace("orders", at=NOW - timedelta(days=30)))
    call("orders", "1", at=NOW - timedelta(days=30))

    report = usage_report(WEEK)

    assert report.is_empty
    assert report.agents == [] and report.daily == []
    assert report.totals.requests == 0 and report.totals.cost_usd == 0
    assert report.totals.p50_ms is None
    assert report.daily_values("cost_usd") == {}


def test_the_agent_filter_keeps_only_that_agent():
    add_traces(trace("orders"), trace("orders"), trace("refunds", ms=99.0))
    call("orders", "0.5")
    call("refunds", "2")
    approval("refunds", "pending")

    report = usage_report(WEEK, endpoint_name="refunds")

    assert [usage.endpoint_name for usage in report.agents] == ["refunds"]
    assert report.totals.requests == 1
    assert report.totals.cost_usd == Decimal(2)
    assert report.totals.approvals_pending == 1
    assert report.totals.p50_ms == pytest.approx(99.0)
    assert {row.endpoint_name for row in report.daily} == {"refunds"}


def _queries_for(rows_per_agent: int) -> int:
    ExecutionTrace.objects.all().delete()
    LLMCall.objects.all().delete()
    add_traces(
        *(
            trace(name, "error" if n % 7 == 0 else "completed", ms=float(n))
            for name in ("orders", "refunds")
            for n in range(rows_per_agent)
        )
    )
    for name in ("orders", "refunds"):
        call(name, "0.01")
    with CaptureQueriesContext(connection) as queries:
        report = usage_report(WEEK)
    assert report.totals.requests == 2 * rows_per_agent
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_number_of_traces():
    few, many = _queries_for(5), _queries_for(250)
    assert few == many
    # Per-agent figures, LLM sums, approvals, two daily breakdowns and the
    # percentiles (a few per agent off PostgreSQL).
    assert many <= 12


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PERCENTILE_CONT is PostgreSQL's")
def test_percentile_cont_is_the_postgresql_aggregate():
    add_traces(*(trace("orders", ms=float(ms)) for ms in range(1, 11)))
    figures = ExecutionTrace.objects.order_by().aggregate(p=PercentileCont("duration_ms", 0.5))
    assert figures["p"] == pytest.approx(5.5)


def test_a_percentile_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        PercentileCont("duration_ms", 1.5)
