"""URLs of the agent API; include them with ``path("agents/", include("agentic_django.urls"))``."""

from django.urls import path, re_path

from .api import approvals, runs, views
from .observability.metrics_view import MetricsView

app_name = "agentic_django"

urlpatterns = [
    path("", views.CapabilitiesView.as_view(), name="capabilities"),
    path("health/", views.HealthView.as_view(), name="health"),
    path("metrics/", MetricsView.as_view(), name="metrics"),
    path("openapi.json", views.OpenAPIView.as_view(), name="openapi"),
    path("approvals/", approvals.ApprovalListView.as_view(), name="approval-list"),
    path(
        "approvals/<str:request_id>/",
        approvals.ApprovalDetailView.as_view(),
        name="approval-detail",
    ),
    path(
        "approvals/<str:request_id>/decision/",
        approvals.ApprovalDecisionView.as_view(),
        name="approval-decision",
    ),
    path("runs/<str:run_id>/resume/", runs.RunResumeView.as_view(), name="run-resume"),
    re_path(r"^(?P<name>[A-Za-z0-9_][\w.-]*)/$", views.EndpointView.as_view(), name="endpoint"),
]
