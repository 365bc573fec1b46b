"""Who is calling over MCP, decided by the DRF classes of the endpoints themselves.

The MCP endpoint admits a request only when one of the authentication classes in
play (the agent API's defaults, then those of each served endpoint) recognises
its credentials; anyone else gets HTTP 401, never a tool list. Each tool listing
and each call then runs the endpoint's own ``authentication_classes``,
``permission_classes`` and ``throttle_classes``, exactly as ``POST <name>/`` does,
by driving the same DRF view (``EndpointView.initial``) on a Django request built
from the MCP request's headers.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from rest_framework import exceptions
from rest_framework.request import Request

from ..api.policies import policy_classes
from ..api.views import EndpointView

if TYPE_CHECKING:
    from ..registry import AgentEndpointDef, AgentSite


@dataclass(frozen=True)
class Admission:
    """The outcome of the gate: the user, or the 401 to answer with."""

    user: Any = None
    challenge: str = ""
    detail: str = ""

    @property
    def admitted(self) -> bool:
        return self.user is not None


def django_request(scope: dict[str, Any]) -> ASGIRequest:
    """A bodiless Django request carrying the MCP request's method, path and headers.

    Authentication classes read headers only; the body stays with the MCP transport.
    """
    return ASGIRequest({**scope, "method": scope.get("method", "POST")}, io.BytesIO(b""))


def _gate_classes(endpoints: Iterable[AgentEndpointDef]) -> list[type]:
    classes: list[type] = list(policy_classes("authentication"))
    for endpoint in endpoints:
        for cls in endpoint.authentication_classes or ():
            if cls not in classes:
                classes.append(cls)
    return classes


def _admit(request: ASGIRequest, classes: list[type]) -> Admission:
    request.get_host()  # DisallowedHost unless ALLOWED_HOSTS has it, as for any Django view
    challenge = ""
    for cls in classes:
        authenticator = cls()
        if not challenge:
            challenge = authenticator.authenticate_header(Request(request)) or ""
        try:
            found = authenticator.authenticate(Request(request))
        except exceptions.AuthenticationFailed as exc:
            return Admission(challenge=challenge or "Token", detail=str(exc.detail))
        if found is not None and getattr(found[0], "is_authenticated", False):
            return Admission(user=found[0])
    return Admission(
        challenge=challenge or "Token", detail="Authentication credentials were not provided."
    )


async def admit(scope: dict[str, Any], endpoints: Iterable[AgentEndpointDef]) -> Admission:
    """Authenticate the MCP request with every authentication class in play.

    Raises ``DisallowedHost`` for a ``Host`` header that ``ALLOWED_HOSTS`` refuses.
    """
    request = django_request(scope)
    return await sync_to_async(_admit)(request, _gate_classes(endpoints))


class EndpointCheck:
    """The DRF view of one endpoint, run up to (not including) its handler."""

    def __init__(self, site: AgentSite, endpoint: AgentEndpointDef, scope: dict[str, Any]) -> None:
        view = EndpointView()
        view.site = site
        view.args = ()
        view.kwargs = {"name": endpoint.name}
        view.format_kwarg = None
        view.headers = {}
        self.view = view
        self.request: Request = view.initialize_request(django_request(scope))
        view.request = self.request

    def may_see(self) -> bool:
        """Authenticated and permitted (throttles are not spent on a listing); blocking."""
        try:
            self.view.perform_authentication(self.request)
            self.view.check_permissions(self.request)
        except exceptions.APIException:
            return False
        return bool(getattr(self.request.user, "is_authenticated", False))

    async def authorize(self) -> Request:
        """Authentication, permissions and throttles; raises DRF's ``APIException``s."""
        await sync_to_async(self.view.initial)(self.request)
        if not getattr(self.request.user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        return self.request


async def visible_endpoints(
    site: AgentSite, endpoints: Iterable[AgentEndpointDef], scope: dict[str, Any]
) -> list[AgentEndpointDef]:
    """The endpoints whose own DRF classes admit the caller, checked in one thread hop."""
    candidates = list(endpoints)

    def check_all() -> list[AgentEndpointDef]:
        return [e for e in candidates if EndpointCheck(site, e, scope).may_see()]

    return await sync_to_async(check_all)()
