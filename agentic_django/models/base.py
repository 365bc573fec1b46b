"""Identifiers shared by every model."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A random 32-character hex identifier (public ids of sessions and traces)."""
    return uuid.uuid4().hex
