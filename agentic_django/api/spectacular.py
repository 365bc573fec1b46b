"""The agent API in the project's drf-spectacular schema, and its Swagger UI and ReDoc.

Agent endpoints take a free-form intent and answer per-endpoint shapes that DRF
serializers do not describe, so spectacular's discovery skips their views
(``schema = None`` on them) and this postprocessing hook merges our own document
(:func:`~agentic_django.api.openapi.build_openapi_document`) into the project's:

.. code-block:: python

    SPECTACULAR_SETTINGS = {
        "OAS_VERSION": "3.1.0",  # our schemas are JSON Schema 2020-12 (pydantic)
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "agentic_django.api.spectacular.merge_agent_paths",
        ],
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }

Each agent operation lists the security schemes of the agent API's authentication
classes. :mod:`agentic_django.schema_urls` serves the schema, Swagger UI and ReDoc
behind the agent API's authentication and permission classes.
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from ..registry import agents
from .openapi import build_openapi_document
from .policies import AgentPolicyMixin, policy_classes

#: Operations anyone may call (the health check), left without a security requirement.
PUBLIC_OPERATIONS = frozenset({"agent_health"})


def agent_base_path() -> str:
    """Where ``agentic_django.urls`` is mounted (``/agents`` by default)."""
    try:
        return reverse("agentic_django:capabilities").rstrip("/")
    except NoReverseMatch:
        return "/agents"


def security_schemes() -> dict[str, Any]:
    """Security schemes of the agent API's authentication classes, by spectacular's names."""
    schemes: dict[str, Any] = {}
    for cls in policy_classes("authentication"):
        extension = OpenApiAuthenticationExtension.get_match(cls())
        if extension is not None:
            definition = extension.get_security_definition(None)
            if isinstance(definition, dict):
                schemes[extension.name] = definition
    return schemes


def merge_agent_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> Any:
    """Postprocessing hook: add the agent endpoints, streams and approvals to ``result``."""
    ours = build_openapi_document(agents, base_path=agent_base_path())
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in ours["components"]["schemas"].items():
        schemas.setdefault(name, schema)
    schemes = components.setdefault("securitySchemes", {})
    ours_schemes = security_schemes()
    for name, definition in ours_schemes.items():
        schemes.setdefault(name, definition)
    requirement = [{name: []} for name in ours_schemes]
    paths = result.setdefault("paths", {})
    for path, operations in ours["paths"].items():
        for operation in operations.values():
            if requirement and operation.get("operationId") not in PUBLIC_OPERATIONS:
                operation.setdefault("security", requirement)
        paths.setdefault(path, {}).update(operations)
    return result


class SchemaView(AgentPolicyMixin, SpectacularAPIView):
    """The project's schema, behind the agent API's authentication and permissions."""


class SwaggerView(AgentPolicyMixin, SpectacularSwaggerView):
    """Swagger UI (served from drf-spectacular-sidecar, no CDN), same permissions."""


class RedocView(AgentPolicyMixin, SpectacularRedocView):
    """ReDoc (served from drf-spectacular-sidecar, no CDN), same permissions."""
