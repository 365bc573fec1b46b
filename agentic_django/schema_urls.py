"""The project's OpenAPI schema, Swagger UI and ReDoc (needs drf-spectacular).

``path("api/schema/", include("agentic_django.schema_urls"))`` serves ``schema/``
(the document), ``swagger/`` and ``redoc/``, each behind the agent API's
authentication and permission classes. See :mod:`agentic_django.api.spectacular`.
"""

from django.urls import path

from .api.spectacular import RedocView, SchemaView, SwaggerView

app_name = "agentic_schema"

urlpatterns = [
    path("", SchemaView.as_view(), name="schema"),
    path("swagger/", SwaggerView.as_view(url_name="agentic_schema:schema"), name="swagger"),
    path("redoc/", RedocView.as_view(url_name="agentic_schema:schema"), name="redoc"),
]
