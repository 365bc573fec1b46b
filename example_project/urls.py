"""URLs of the example project: admin, the agent API and the benchmark's bare view."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from .bench_views import BareView

urlpatterns = [
    path("", RedirectView.as_view(url="/agents/", permanent=False)),
    path("admin/", admin.site.urls),
    path("agents/", include("agentic_django.urls")),
    path("bench/bare/", BareView.as_view(), name="bench-bare"),
]
