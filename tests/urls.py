import importlib.util

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("agents/", include("agentic_django.urls")),
]

if importlib.util.find_spec("drf_spectacular") is not None:
    urlpatterns.append(path("api/schema/", include("agentic_django.schema_urls")))
