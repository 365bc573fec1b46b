"""The example project with a scripted hostile model (see ``hostile_llm``)."""

from __future__ import annotations

from example_project.settings import *  # noqa: F403
from example_project.settings import AGENTIC_DJANGO

AGENTIC_DJANGO = {
    **AGENTIC_DJANGO,
    "LLM_BACKENDS": {"default": {"BACKEND": "tests.example.hostile_llm.HostileBackend"}},
    "CODE_CACHE": {"ENABLED": False},
}
