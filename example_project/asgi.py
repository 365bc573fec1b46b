"""ASGI entry point for daphne: ``daphne example_project.asgi:application``.

HTTP goes to the agent stream consumers (``/agents/<name>/stream/``, ``/agents/runs/<id>/
events/``, ``/agents/approvals/<id>/events/``), then to Django; WebSockets to the agent
sockets (``/agents/<name>/ws/``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

if settings.SERVE_STATIC:
    # Daphne serves no files itself; this keeps the admin styled without a web server.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_app = ASGIStaticFilesHandler(django_app)

from agentic_django.asgi import get_application  # noqa: E402  (after django.setup())

application = get_application(django_app)
