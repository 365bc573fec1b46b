"""Execution traces as CSV lines, generated row by row so an export of any size streams.

The caller (the trace admin's export view) chooses which traces; this module reads
only the columns it writes, in chunks, and never holds the whole export in memory.
Cells a spreadsheet would read as a formula are neutralised.

Under ASGI, Django reads a synchronous iterator whole before sending any of it, so
:func:`in_batches` hands the lines to the server as an asynchronous iterator,
reading them a batch at a time in Django's sync thread (where the ORM runs).
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from ..models import ExecutionTrace

#: Rows fetched from the database at a time.
CHUNK_SIZE = 1000

#: ``(CSV header, queryset field)`` of each exported column, in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("created_at", "created_at"),
    ("trace_id", "trace_id"),
    ("endpoint_name", "endpoint_name"),
    ("user", "user__username"),
    ("status", "status"),
    ("intent_action", "intent_action"),
    ("intent_domain", "intent_domain"),
    ("intent_raw", "intent_raw"),
    ("duration_ms", "duration_ms"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cost_usd", "cost_usd"),
    ("error", "error"),
)

#: A spreadsheet treats a cell starting with one of these as a formula (OWASP's list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like target for ``csv.writer`` that hands back what was written."""

    def write(self, value: str) -> str:
        return value


def csv_lines(traces: QuerySet[ExecutionTrace], *, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """The header, then one CSV line per trace of ``traces``, in the queryset's order.

    The rows are read lazily, ``chunk_size`` at a time, when the generator is consumed.
    """
    rows = traces.values_list(*(field for _header, field in COLUMNS)).iterator(
        chunk_size=chunk_size
    )
    return format_rows(rows)


async def in_batches(lines: Iterator[str], size: int = CHUNK_SIZE) -> AsyncIterator[str]:
    """``lines`` as an asynchronous iterator, ``size`` lines (joined) at a time."""

    def batch() -> str:
        return "".join(islice(lines, size))

    while text := await sync_to_async(batch, thread_sensitive=True)():
        yield text


def format_rows(rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header line, then each row of :data:`COLUMNS` values as a CSV line."""
    writer = csv.writer(_Line())
    yield writer.writerow([header for header, _field in COLUMNS])
    for row in rows:
        yield writer.writerow(
            [_cell(header, value) for (header, _f), value in zip(COLUMNS, row, strict=True)]
        )


def _cell(header: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if header == "error":
        # The first line says what went wrong; the rest is context for the trace page.
        text = text.split("\n", 1)[0].rstrip("\r")
    return guard_formula(text)


def guard_formula(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would evaluate it as a formula."""
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text
