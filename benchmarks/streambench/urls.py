"""The agent API under ``/agents/`` (the streams themselves are routed in ``asgi``)."""

from django.urls import include, path

urlpatterns = [path("agents/", include("agentic_django.urls"))]
