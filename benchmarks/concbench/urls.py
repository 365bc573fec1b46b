"""The agent API under ``/agents/`` and the bare baseline view at ``/bare/``."""

from django.urls import include, path

from .views import BareView

urlpatterns = [
    path("bare/", BareView.as_view()),
    path("agents/", include("agentic_django.urls")),
]
