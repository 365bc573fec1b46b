"""Pages of the shop: the refund assistant, a browser client of the ``refunds`` stream."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def assistant_page(request: HttpRequest) -> HttpResponse:
    """The page posts to ``/agents/refunds/stream/``; its script sends the CSRF cookie back."""
    return render(request, "shop/assistant.html")
