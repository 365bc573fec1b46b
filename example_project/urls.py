"""URLs of the example project: admin, the agent API, the shop's pages, the bench's bare view.

The agent streams (``/agents/<name>/stream/``, ``/agents/runs/<id>/events/``) are served by
Channels consumers in front of these URLs; see ``asgi.py``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path
from django.views.generic import RedirectView

from .bench_views import BareView
from .shop.views import assistant_page

urlpatterns = [
    path("", RedirectView.as_view(url="/agents/", permanent=False)),
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        LoginView.as_view(template_name="shop/login.html", next_page="shop-assistant"),
        name="login",
    ),
    path("shop/assistant/", assistant_page, name="shop-assistant"),
    path("agents/", include("agentic_django.urls")),
    path("bench/bare/", BareView.as_view(), name="bench-bare"),
]
