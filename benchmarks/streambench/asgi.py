"""``daphne streambench.asgi:application``: Django plus the agent stream consumers."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streambench.settings")

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

from agentic_django.asgi import get_application  # noqa: E402 - after django.setup()

application = get_application(django_app)
