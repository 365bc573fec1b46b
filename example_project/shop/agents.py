"""Agent endpoints of the shop, discovered at startup like ``admin.py``.

The endpoints run by the harness (generated code, tools, a workflow) are in
``analyst.py``, the streaming ``refunds`` endpoint in ``assistant.py``, both imported
below. The ones here show what works without an LLM:
typed intents (``Intent[T]``) whose payload a client can send directly as
``params``, intent scopes, response models, dependencies, background tasks,
session memory, DRF permissions and plain ``HttpResponse`` results. With no LLM
configured the keyword parser leaves a typed payload at its defaults, so the
handlers also read the obvious filters from the question's text.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from django.db.models import Count, Q, Sum
from django.http import HttpResponse
from django.utils import timezone
from pydantic import BaseModel, Field
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.request import Request

from agentic_django import (
    AgentContext,
    AgentResponse,
    AgentTasks,
    Depends,
    Intent,
    IntentScope,
    InvalidRequest,
    agents,
)
from agentic_django.mcp import sdk_available

from . import analyst  # noqa: F401  (registers the endpoints run by the harness)
from . import assistant as refund_assistant  # noqa: F401  (registers the refunds stream)
from .models import Order, OrderStatus, Product

if sdk_available():
    from . import delivery  # noqa: F401  (registers the agent using the shipping MCP server)

analytics = logging.getLogger("shop.analytics")

StatusName = Literal["pending", "paid", "shipped", "cancelled", "refunded"]

_LAST_DAYS = re.compile(r"\b(?:last|past)\s+(\d{1,3})\s+days?\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CENT = Decimal("0.01")


def _status_in(text: str) -> str | None:
    """The first order status word in ``text`` ("shipped", "refunded" ...), if any."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return next((status for status in OrderStatus.values if status in words), None)


# --- orders ---------------------------------------------------------------------------


class OrderQuery(BaseModel):
    """Filters of an order question; all optional, so a bare question works too."""

    status: StatusName | None = None
    days: int = Field(30, ge=1, le=365, description="Look back this many days.")
    customer_email: str | None = Field(
        None, max_length=254, description="Staff only; customers always get their own orders."
    )


class OrderRow(BaseModel):
    id: int
    customer: str
    status: str
    total: Decimal
    created_at: datetime


class OrderSummary(BaseModel):
    count: int
    revenue: Decimal
    by_status: dict[str, int]
    since: datetime
    filters: OrderQuery
    recent: list[OrderRow]


def _order_filters(intent: Intent[OrderQuery]) -> OrderQuery:
    """The typed payload, with fields the client did not send read from the text."""
    query = intent.params or OrderQuery()
    sent = query.model_fields_set
    updates: dict[str, Any] = {}
    if "status" not in sent and (status := _status_in(intent.raw)):
        updates["status"] = status
    if "days" not in sent and (match := _LAST_DAYS.search(intent.raw)):
        updates["days"] = min(max(int(match.group(1)), 1), 365)
    if "customer_email" not in sent and (email := _EMAIL.search(intent.raw)):
        updates["customer_email"] = email.group(0)
    return query.model_copy(update=updates)


@agents.agent_endpoint(
    "orders",
    description="Questions about orders: counts, revenue and recent orders by status",
    intent_scope=IntentScope(
        allowed_intents=["order.*"], denied_intents=["order.write", "order.execute"]
    ),
    response_model=OrderSummary,
    tags=["shop"],
    mcp=True,
)
async def orders(intent: Intent[OrderQuery], context: AgentContext) -> OrderSummary:
    """Read-only: the scope refuses anything the parser classifies as a write.

    Scoped by the authenticated user, never by an email the caller claims: a customer
    gets their own orders whatever ``customer_email`` says; staff may pick a customer.
    """
    filters = _order_filters(intent)
    since = timezone.now() - timedelta(days=filters.days)
    scope = Order.objects.filter(created_at__gte=since)
    if not getattr(context.user, "is_staff", False):
        own = getattr(context.user, "email", "") or ""
        filters = filters.model_copy(update={"customer_email": own or None})
        # No email, no orders (an empty filter value must not mean "everyone's").
        scope = scope.filter(customer__email__iexact=own) if own else scope.none()
    elif filters.customer_email:
        scope = scope.filter(customer__email__iexact=filters.customer_email)
    by_status = {
        row["status"]: row["n"]
        async for row in scope.values("status").annotate(n=Count("id")).order_by("status")
    }
    selected = scope.filter(status=filters.status) if filters.status else scope
    totals = await selected.aaggregate(count=Count("id"), revenue=Sum("total"))
    recent = [
        OrderRow(
            id=order.pk,
            customer=order.customer.name,
            status=order.status,
            total=order.total,
            created_at=order.created_at,
        )
        async for order in selected.select_related("customer").order_by("-created_at")[:5]
    ]
    return OrderSummary(
        count=totals["count"],
        # SQLite sums decimals as floats; round to cents so both databases answer alike.
        revenue=(totals["revenue"] or Decimal("0")).quantize(CENT, rounding=ROUND_HALF_UP),
        by_status=by_status,
        since=since,
        filters=filters,
        recent=recent,
    )


# --- catalog --------------------------------------------------------------------------

#: Units of each currency per US dollar; the catalogue is priced in dollars.
RATES = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "GBP": Decimal("0.79")}

#: Words of a search question that never name a product.
_STOP_WORDS = frozenset(
    {"all", "and", "any", "anything", "are", "cheap", "everything", "find", "for", "have"}
    | {"item", "items", "list", "our", "product", "products", "search", "show", "some"}
    | {"stock", "the", "under", "with", "what", "which", "you"}
)


@dataclass(frozen=True)
class Pricing:
    """Converts catalogue prices (USD) into the currency the caller asked for."""

    currency: str
    rate: Decimal

    def to_local(self, usd: Decimal) -> Decimal:
        return (usd * self.rate).quantize(CENT, rounding=ROUND_HALF_UP)

    def to_usd(self, amount: Decimal) -> Decimal:
        return (amount / self.rate).quantize(CENT, rounding=ROUND_HALF_UP)


async def pricing(request: Request) -> Pricing:
    """A dependency: the ``X-Currency`` header picks the currency (USD by default).

    ``request`` is ``None`` when the endpoint is called from Python.
    """
    code = (request.headers.get("X-Currency", "USD") if request is not None else "USD").upper()
    if code not in RATES:
        raise InvalidRequest(f"Unsupported currency {code!r}; use one of {sorted(RATES)}.")
    return Pricing(code, RATES[code])


class CatalogQuery(BaseModel):
    """Product search filters; ``max_price`` is in the caller's currency."""

    search: str = Field("", max_length=200)
    # Bounded: a price like 1.6e308 does not fit the database's decimal column.
    max_price: Decimal | None = Field(None, gt=0, le=1_000_000, max_digits=12, decimal_places=2)
    in_stock_only: bool = False
    limit: int = Field(10, ge=1, le=50)


class ProductRow(BaseModel):
    sku: str
    name: str
    price: Decimal
    in_stock: bool


class CatalogResult(BaseModel):
    currency: str
    terms: list[str]
    count: int
    products: list[ProductRow]


def _search_terms(text: str) -> list[str]:
    """Words worth matching against product names ("lamps" matches "Lamp")."""
    words = re.findall(r"[a-z]{3,}", text.lower())
    return [word.removesuffix("s") for word in words if word not in _STOP_WORDS]


def record_search(user_id: str | None, terms: list[str], hits: int) -> None:
    """Background task: one analytics line per search, written after the response."""
    analytics.info("catalog search user=%s terms=%s hits=%d", user_id or "-", terms, hits)


@agents.agent_endpoint(
    "catalog",
    description="Search the product catalogue, with prices in the caller's currency",
    response_model=CatalogResult,
    tags=["shop"],
    mcp=True,
)
async def catalog(
    intent: Intent[CatalogQuery],
    context: AgentContext,
    tasks: AgentTasks,
    prices: Pricing = Depends(pricing),
) -> CatalogResult:
    """Search by name; analytics are logged by a background task, off the response path."""
    query = intent.params or CatalogQuery()
    terms = _search_terms(query.search or intent.raw)
    products = Product.objects.all()
    if terms:
        match = Q()
        for term in terms:
            match |= Q(name__icontains=term)
        products = products.filter(match)
    if query.max_price is not None:
        products = products.filter(price__lte=prices.to_usd(query.max_price))
    if query.in_stock_only or "stock" in intent.raw.lower():
        products = products.filter(stock__gt=0)
    rows = [
        ProductRow(
            sku=product.sku,
            name=product.name,
            price=prices.to_local(product.price),
            in_stock=product.stock > 0,
        )
        async for product in products.order_by("price")[: query.limit]
    ]
    tasks.add_task(record_search, context.user_id, terms, len(rows))
    return CatalogResult(currency=prices.currency, terms=terms, count=len(rows), products=rows)


# --- assistant ------------------------------------------------------------------------

_MY_NAME = re.compile(r"\bmy name is\s+([\w' -]{1,40}?)[.!]?$", re.IGNORECASE)
_REMEMBER = re.compile(r"^\s*remember(?:\s+that)?\s+(.{1,200}?)[.!]?\s*$", re.IGNORECASE)


@agents.agent_endpoint(
    "assistant",
    description="A shop assistant that remembers what you tell it for the rest of the session",
    tags=["shop"],
)
async def assistant(intent: Intent, context: AgentContext) -> AgentResponse:
    """Session memory: ``context.session_context`` is saved with the session after each turn.

    Send the returned ``session_id`` back to continue the conversation.
    """
    memory = context.session_context
    memory["turns"] = memory.get("turns", 0) + 1
    text = intent.raw.strip()
    notes: list[str] = memory.setdefault("notes", [])
    if match := _MY_NAME.search(text):
        memory["name"] = match.group(1).strip().title()
        reply = f"Nice to meet you, {memory['name']}."
    elif match := _EMAIL.search(text):
        memory["email"] = match.group(0).lower()
        reply = f"Noted: your email is {memory['email']}."
    elif match := _REMEMBER.match(text):
        notes.append(match.group(1))
        reply = f"I will remember that ({len(notes)} note(s) so far)."
    elif "forget" in text.lower():
        memory.clear()
        memory["turns"] = 1
        reply = "I have forgotten everything from this session."
    elif "order" in text.lower():
        # The signed-in user's orders: an email told in the chat proves nothing.
        email = getattr(context.user, "email", "")
        count = await Order.objects.filter(customer__email__iexact=email).acount() if email else 0
        reply = f"You have {count} order(s)."
    else:
        facts = [f"{key}: {memory[key]}" for key in ("name", "email") if key in memory]
        known = "; ".join(facts + notes) or "nothing yet"
        reply = f"Hello {memory.get('name', 'there')}. Turn {memory['turns']}; I remember: {known}."
    return AgentResponse(
        result={"reply": reply, "memory": dict(memory)},
        confidence=intent.confidence,
        follow_up_suggestions=[
            "my name is Ada",
            "my email is ada.lovelace@example.com",
            "how many orders do I have?",
            "remember that I prefer walnut",
        ],
    )


# --- export ---------------------------------------------------------------------------


class ExportQuery(BaseModel):
    status: StatusName | None = None
    days: int = Field(30, ge=1, le=365)


@agents.agent_endpoint(
    "export",
    description="Orders as a CSV file (staff only)",
    permission_classes=[IsAdminUser],
    tags=["shop"],
)
async def export(intent: Intent[ExportQuery]) -> HttpResponse:
    """A plain Django response is passed through untouched; the trace still records it."""
    query = intent.params or ExportQuery()
    status = query.status or _status_in(intent.raw)
    orders = Order.objects.filter(created_at__gte=timezone.now() - timedelta(days=query.days))
    if status:
        orders = orders.filter(status=status)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="orders.csv"'
    writer = csv.writer(response)
    writer.writerow(["id", "created_at", "customer_email", "status", "total"])
    async for order in orders.select_related("customer").order_by("created_at"):
        writer.writerow(
            [
                order.pk,
                order.created_at.isoformat(),
                order.customer.email,
                order.status,
                order.total,
            ]
        )
    return response


# --- benchmark ------------------------------------------------------------------------


@agents.agent_endpoint(
    "bench",
    description="Trivial endpoint measured by benchmarks/overhead.py against a bare view",
    permission_classes=[AllowAny],
    authentication_classes=[],
    # Measured at full speed; it calls no LLM of its own.
    throttle_classes=[],
    tags=["benchmark"],
)
async def bench(intent: Intent, context: AgentContext) -> dict[str, Any]:
    """No work of its own, so a benchmark sees only the framework: parse, session, trace."""
    return {"ok": True, "echo": intent.raw}
