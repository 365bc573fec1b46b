"""ASGI entry point for daphne: ``daphne example_project.asgi:application``."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

application = get_asgi_application()

if settings.SERVE_STATIC:
    # Daphne serves no files itself; this keeps the admin styled without a web server.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
