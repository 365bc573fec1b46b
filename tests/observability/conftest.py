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
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # another test module may have set one
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(_span_exporter):
    """The SDK's in-memory exporter, emptied for this test."""
    _span_exporter.clear()
    yield _span_exporter
    _span_exporter.clear()
