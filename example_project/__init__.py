"""A small shop served through agent endpoints: the demo and benchmark project."""

from .celery import app as celery_app

__all__ = ["celery_app"]
