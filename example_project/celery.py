"""The example project's Celery app, configured the standard way from Django settings.

The demo runs ``celery -A example_project worker -B`` (``-B`` runs the beat schedule
that expires approvals and requeues stalled ones); in production run one separate
``celery beat`` process instead (docs/deploy.md).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
