from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _span_exporter():
    """One SDK tracer provider for the session (OpenTelemetry allows setting it once)."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(_span_exporter):
    """The SDK's in-memory exporter, emptied for this test."""
    _span_exporter.clear()
    yield _span_exporter
    _span_exporter.clear()
