"""What operators' tools read: Prometheus metrics and OpenTelemetry spans.

Both are optional (extras ``prometheus`` and ``otel``); without their libraries
every call here is a no-op and nothing else changes.
"""
