from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from agentic_django.harness.sandbox import ForkServerSandbox, SandboxLimits

SECRET_NAME = "AGENTIC_TEST_SECRET"


@pytest.fixture(scope="module")
def secret() -> Iterator[str]:
    """A secret in the parent's environment, set before any sandbox server starts."""
    value = f"s3cr3t-{uuid.uuid4().hex}"
    previous = os.environ.get(SECRET_NAME)
    os.environ[SECRET_NAME] = value
    yield value
    if previous is None:
        os.environ.pop(SECRET_NAME, None)
    else:
        os.environ[SECRET_NAME] = previous


@pytest.fixture(scope="module")
def tight_limits() -> SandboxLimits:
    return SandboxLimits(cpu_seconds=1, memory_mb=64, wall_seconds=3, max_output_bytes=100_000)


@pytest.fixture(scope="module")
def sandbox(secret: str, tight_limits: SandboxLimits) -> Iterator[ForkServerSandbox]:
    with ForkServerSandbox(pool_size=2, limits=tight_limits) as box:
        box.start()
        yield box
