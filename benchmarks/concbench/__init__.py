"""A Django project of ``benchmarks/concurrency.py``: slow model, endpoints.

A package rather than modules next to the benchmarks, so ``scripts/bench.sh`` (which
runs every ``benchmarks/*.py``) does not mistake them for benchmarks. The benchmark
puts ``benchmarks/`` on ``PYTHONPATH`` and serves ``concbench.asgi:application``.
"""
