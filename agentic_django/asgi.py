"""An ASGI application serving Django plus the agent streams: ``get_application()``.

Use it in your project's ``asgi.py`` (after ``django.setup()`` has run, which
``get_asgi_application()`` does)::

    from django.core.asgi import get_asgi_application
    django_app = get_asgi_application()
    from agentic_django.asgi import get_application
    application = get_application(django_app)
"""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path


def get_application(django_app: Any = None, *, prefix: str = "agents/") -> Any:
    """HTTP: the stream consumers, then ``django_app``; WebSocket: the agent sockets."""
    if django_app is None:
        from django.core.asgi import get_asgi_application

        django_app = get_asgi_application()
    from .routing import http_urlpatterns, websocket_urlpatterns

    return ProtocolTypeRouter(
        {
            "http": URLRouter([*http_urlpatterns(prefix), re_path(r"", django_app)]),
            "websocket": URLRouter(websocket_urlpatterns(prefix)),
        }
    )
