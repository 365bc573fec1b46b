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
