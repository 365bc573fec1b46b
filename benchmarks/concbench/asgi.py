"""``uvicorn concbench.asgi:application``: plain Django over ASGI (HTTP only)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concbench.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
