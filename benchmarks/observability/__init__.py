"""ASGI applications of the example project for measuring what observability costs.

``plain``: the prometheus and otel extras blocked, as if not installed;
``observed``: Prometheus metrics and an OpenTelemetry SDK tracer provider recording
every span (batched, then discarded, so the exporter's network is not measured).
"""
