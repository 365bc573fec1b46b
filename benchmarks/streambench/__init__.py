"""A Django project of ``benchmarks/streaming.py``: settings, ASGI app and streaming endpoints.

A package rather than modules next to the benchmarks, so ``scripts/bench.sh`` (which
runs every ``benchmarks/*.py``) does not mistake them for benchmarks. The benchmark
puts ``benchmarks/`` on ``PYTHONPATH`` and serves ``streambench.asgi:application``.
"""
