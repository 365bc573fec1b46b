"""The test project's Celery app, configured from Django settings like any project's.

Workers for the integration tests: ``celery -A tests.celery_app worker`` with
``DJANGO_SETTINGS_MODULE=tests.settings``; the broker is ``CELERY_BROKER_URL``
(``memory://`` unless set, so importing this never needs a service).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _record_spans_to(path: str) -> None:
    """Worker spans as JSON lines in ``path``, for the tests that follow a trace across."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    out = open(path, "a", buffering=1)  # noqa: SIM115 (open for the worker's lifetime)
    exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


if os.environ.get("AGENTIC_TEST_SPANS_FILE"):
    _record_spans_to(os.environ["AGENTIC_TEST_SPANS_FILE"])
