"""Traces as CSV lines: the columns, the formula guard and the lazy, chunked reading."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agentic_django.models import ExecutionTrace
from agentic_django.services.trace_export import COLUMNS, csv_lines, format_rows, guard_formula


def parse(lines) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(lines))))


def row(**values):
    defaults = {header: "" for header, _field in COLUMNS}
    return tuple({**defaults, **values}[header] for header, _field in COLUMNS)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_cells_a_spreadsheet_would_evaluate_get_a_quote(text):
    assert guard_formula(text) == f"'{text}"


@pytest.mark.parametrize("text", ["", "show my orders", "a=b", "1-2", "'quoted"])
def test_ordinary_cells_are_left_alone(text):
    assert guard_formula(text) == text


def test_rows_are_written_under_the_header_with_numbers_and_dates_as_they_are():
    when = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    lines = list(
        format_rows(
            [
                row(
                    created_at=when,
                    intent_raw='say "hi",\nthen =go',
                    duration_ms=12.5,
                    input_tokens=10,
                    cost_usd=Decimal("0.001200"),
                    user=None,
                    error="first line\r\nsecond line",
                )
            ]
        )
    )
    header, data = parse(lines)
    assert header == [header for header, _field in COLUMNS]
    cells = dict(zip(header, data, strict=True))
    assert cells["created_at"] == "2025-03-01T12:30:00+00:00"
    assert cells["intent_raw"] == 'say "hi",\nthen =go'
    assert cells["duration_ms"] == "12.5" and cells["cost_usd"] == "0.001200"
    assert cells["user"] == "" and cells["error"] == "first line"


def test_a_negative_number_is_not_taken_for_a_formula():
    [_header, data] = parse(format_rows([row(duration_ms=-1.0, intent_raw="-1")]))
    cells = dict(zip([h for h, _f in COLUMNS], data, strict=True))
    assert cells["duration_ms"] == "-1.0" and cells["intent_raw"] == "'-1"


@pytest.mark.django_db
def test_csv_lines_read_nothing_until_consumed_then_stream_every_trace():
    ExecutionTrace.objects.bulk_create(
        ExecutionTrace(endpoint_name="orders", status="completed", intent_raw=f"q{i}")
        for i in range(2_500)
    )
    with CaptureQueriesContext(connection) as creating:
        lines = csv_lines(ExecutionTrace.objects.order_by("pk"), chunk_size=1_000)
        header = next(lines)
    assert creating.captured_queries == []
    assert header.startswith("created_at,trace_id,")
    rows = parse(lines)
    assert [r[7] for r in rows] == [f"q{i}" for i in range(2_500)]
