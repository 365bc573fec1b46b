"""Authenticating a Channels connection the way the agent API's DRF views do.

A consumer has no DRF view around it, so the ASGI scope is turned into a Django
request (session cookie, ``Authorization`` header, CSRF cookie), and the
endpoint's DRF authentication, permission and throttle classes run on it
exactly as they would for ``POST /agents/<name>/``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django.utils.http import is_same_domain
from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.request import Request

from ..api.policies import policy_classes


class ConsumerView:
    """What DRF permission and throttle classes see as "the view" of a consumer."""

    def __init__(self, endpoint: Any = None, kwargs: dict[str, Any] | None = None) -> None:
        self.endpoint = endpoint
        self.kwargs = kwargs or {}
        self.throttle_scope = getattr(endpoint, "name", None)


_HTTP_SCHEMES = {"ws": "http", "wss": "https"}


def django_request(scope: dict[str, Any], body: bytes = b"") -> HttpRequest:
    """A Django request for ``scope`` with the session and the lazy user attached."""
    http_scope = {
        **scope,
        "type": "http",
        "method": scope.get("method", "GET"),
        # A socket's scheme as HTTP names it, so ``is_secure()`` answers for ``wss``.
        "scheme": _HTTP_SCHEMES.get(scope.get("scheme", "http"), scope.get("scheme", "http")),
    }
    request = ASGIRequest(http_scope, io.BytesIO(body))
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.user = SimpleLazyObject(lambda: get_user(request))
    return request


class _UnparsedBody(BaseParser):
    """Accepts any body and reads none of it: the consumer parses the JSON itself.

    Without a parser, SessionAuthentication's CSRF check (which reads ``request.POST``
    on a POST) fails with 415 for a body that has a content type.
    """

    media_type = "*/*"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return {}


def _authorize(
    scope: dict[str, Any], body: bytes, endpoint: Any, classes: dict[str, Sequence[type] | None]
) -> Request:
    request = Request(
        django_request(scope, body),
        parsers=[_UnparsedBody()],
        authenticators=[cls() for cls in policy_classes("authentication", classes["auth"])],
    )
    view = ConsumerView(endpoint)
    request.user  # noqa: B018 - authenticates now, raising AuthenticationFailed here
    for permission in policy_classes("permission", classes["permission"]):
        if not permission().has_permission(request, view):
            if request.authenticators and not request.successful_authenticator:
                raise exceptions.NotAuthenticated()
            raise exceptions.PermissionDenied()
    if classes["throttle"] != []:
        _check_throttles(request, endpoint)
    return request


async def authorize(
    scope: dict[str, Any], body: bytes = b"", endpoint: Any = None, *, throttle: bool = True
) -> Request:
    """The authenticated DRF request, or the DRF exception a view would have raised.

    ``throttle=False`` leaves the throttle classes to :func:`check_throttles` (a
    WebSocket counts each intent it sends, not the connection).
    """
    classes: dict[str, Sequence[type] | None] = {
        "auth": getattr(endpoint, "authentication_classes", None),
        "permission": getattr(endpoint, "permission_classes", None),
        "throttle": getattr(endpoint, "throttle_classes", None) if throttle else [],
    }
    request: Request = await database_sync_to_async(_authorize)(scope, body, endpoint, classes)
    return request


def _check_throttles(request: Request, endpoint: Any) -> None:
    view = ConsumerView(endpoint)
    for throttle_class in policy_classes("throttle", getattr(endpoint, "throttle_classes", None)):
        throttle = throttle_class()
        if not throttle.allow_request(request, view):
            raise exceptions.Throttled(throttle.wait())


async def check_throttles(request: Request, endpoint: Any = None) -> None:
    """Count one more request against the endpoint's throttle classes; raises ``Throttled``."""
    await database_sync_to_async(_check_throttles)(request, endpoint)


def challenge(request_scope: dict[str, Any], endpoint: Any = None) -> str | None:
    """The ``WWW-Authenticate`` value for a 401, as DRF gives it: from the first
    authentication class, if it can challenge the client (else the answer is 403)."""
    classes = policy_classes("authentication", getattr(endpoint, "authentication_classes", None))
    if not classes:
        return None
    header = classes[0]().authenticate_header(django_request(request_scope))
    return str(header) if header else None


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Django's CSRF rule for a browser's ``Origin``, the one HTTP already enforces.

    Accepted: the site's own origin (the scheme the connection used, ``https``
    for ``wss`` or behind ``SECURE_PROXY_SSL_HEADER``, and the ``Host`` it
    connected to, itself in ``ALLOWED_HOSTS``), or an entry of
    ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` for subdomains). Scheme,
    host and port all count: a page on another port of the same host is
    another site. Clients that send no Origin (not browsers) are let through:
    they cannot ride on a visitor's cookies, and authenticate like anyone else.
    """
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1") or None
    if origin is None:
        return True
    request = django_request(scope)
    try:
        own = f"{'https' if request.is_secure() else 'http'}://{request.get_host()}"
    except DisallowedHost:
        own = None
    if origin == own:
        return True
    trusted = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", []))
    if origin in trusted:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    for entry in trusted:
        allowed = urlsplit(entry)
        wildcard = "*" in allowed.netloc and allowed.scheme == parts.scheme
        if wildcard and is_same_domain(parts.netloc, allowed.netloc.lstrip("*")):
            return True
    return False
