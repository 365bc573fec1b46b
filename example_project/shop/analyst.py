"""Shop endpoints run by the harness: generated code, a tool-calling agent and a workflow.

``shop/agents.py`` imports this module, so autodiscovery registers these too.

* ``analytics`` (``codegen=True``): the LLM writes a small program over the caller's
  orders; it runs in the sandbox, after policies and static analysis, and is cached
  per user.
* ``shopper`` (``tools=``): an agent answering from the catalogue and the caller's own
  orders through read-only ORM tools; cancelling an order is a tool that needs a
  person's approval.
* ``restock`` (``workflow=``): finds low stock, checks demand and supplier prices in
  parallel, summarises with the LLM, and pauses for approval before ordering.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Sum
from django.utils import timezone
from pydantic import BaseModel, Field
from rest_framework.permissions import IsAdminUser, IsAuthenticated

from agentic_django import AgentContext, Intent, agents
from agentic_django.harness import ApprovalRule, ApprovalWorkflow, PIIPolicy, ResourcePolicy
from agentic_django.llm import LLMMessage, LLMPrompt
from agentic_django.model_tools import ModelTool, QuerySetTool
from agentic_django.runtime import (
    AgentWorkflow,
    Checkpoint,
    LoopConfig,
    ToolContext,
    WorkflowContext,
    tool,
)

from .models import Order, OrderLine, OrderStatus, Product

#: How many of the caller's most recent orders the analytics program sees.
ANALYTICS_ROWS = 500

#: Changes to orders and stock wait for someone in the "managers" group (in admin,
#: under Approval requests, or POST /agents/approvals/<id>/decision/).
MANAGERS_APPROVE = ApprovalWorkflow(
    [ApprovalRule(name="managers", approvers=["group:managers"], timeout_seconds=24 * 3600)]
)

# --- analytics: generated code over the caller's orders --------------------------------


async def order_data(context: AgentContext) -> dict[str, Any]:
    """The data the generated program receives: staff see every order, others their own."""
    user = context.user
    orders = Order.objects.select_related("customer").order_by("-created_at")
    if not user.is_staff:
        orders = orders.filter(customer__email__iexact=user.email)
    rows = [
        {
            "id": order.pk,
            "customer": order.customer.name,
            "status": order.status,
            "total": float(order.total),
            "created_at": order.created_at.date().isoformat(),
        }
        async for order in orders[:ANALYTICS_ROWS]
    ]
    return {"currency": "USD", "orders": rows}


@agents.agent_endpoint(
    "analytics",
    description="Ad-hoc questions about your orders, answered by generated code in a sandbox",
    codegen=True,
    context_data=order_data,
    policies=[
        ResourcePolicy(max_cpu_seconds=2, max_memory_mb=128, max_wall_seconds=5),
        PIIPolicy(mode="redact"),
    ],
    permission_classes=[IsAuthenticated],
    tags=["shop", "harness"],
)
async def analytics(intent: Intent) -> None:
    """Try "revenue by status", "average order value", "top customers", "revenue by month"."""


# --- shopper: an agent with read-only ORM tools ----------------------------------------

search_products = ModelTool(
    Product,
    name="search_products",
    description="Search the product catalogue by name and price (prices in USD).",
    fields=["sku", "name", "price", "stock"],
    filters={"name": ["icontains"], "price": ["lte", "gte"], "stock": ["gt"]},
    orderings=["price", "name"],
    max_rows=10,
    # The catalogue is public: no model permission is needed to read it.
    permission=None,
)


def _own_orders(context: ToolContext) -> Any:
    """Row-level scoping: a customer's orders are matched by the user's email."""
    return Order.objects.filter(customer__email__iexact=context.user.email)


my_orders = QuerySetTool(
    "my_orders",
    _own_orders,
    model=Order,
    description="The caller's own orders, newest first by default.",
    fields=["id", "status", "total", "created_at"],
    filters={"status": ["exact"], "created_at": ["gte"]},
    orderings=["created_at", "total"],
    max_rows=20,
    # Scoped to the caller's rows above; customers have no model permissions.
    permission=None,
)


@tool(requires_approval=True)
async def cancel_order(order_id: int, context: ToolContext) -> dict[str, Any]:
    """Cancel one of the caller's pending or paid orders (a person approves it first)."""
    cancelled = (
        await _own_orders(context)
        .filter(pk=order_id, status__in=[OrderStatus.PENDING, OrderStatus.PAID])
        .aupdate(status=OrderStatus.CANCELLED)
    )
    return {"order_id": order_id, "cancelled": bool(cancelled)}


@agents.agent_endpoint(
    "shopper",
    description="A shopping assistant that looks up products and your orders",
    tools=[search_products, my_orders, cancel_order],
    loop_config=LoopConfig(max_iterations=4),
    approval=MANAGERS_APPROVE,
    permission_classes=[IsAuthenticated],
    tags=["shop", "harness"],
)
async def shopper(context: AgentContext) -> str:
    """Extra instructions for the agent's system prompt."""
    return (
        f"You are talking to {context.user.get_username()}. Prices are in US dollars. "
        "Never reveal other customers' data."
    )


# --- restock: a workflow that pauses before ordering -----------------------------------


class RestockState(BaseModel):
    threshold: int = Field(5, ge=1, le=1000)
    low_stock: list[dict[str, Any]] = Field(default_factory=list)
    demand: dict[str, int] = Field(default_factory=dict)
    supplier_cost: dict[str, str] = Field(default_factory=dict)
    summary: str = ""
    ordered: list[str] = Field(default_factory=list)


restock_workflow: AgentWorkflow[RestockState] = AgentWorkflow(
    "restock", RestockState, start="find_low_stock"
)


@restock_workflow.step("find_low_stock")
async def find_low_stock(state: RestockState, ctx: WorkflowContext) -> list[str] | None:
    state.low_stock = [
        {"sku": sku, "name": name, "stock": stock}
        async for sku, name, stock in Product.objects.filter(stock__lt=state.threshold)
        .order_by("stock")
        .values_list("sku", "name", "stock")
    ]
    if not state.low_stock:
        state.summary = f"Every product has at least {state.threshold} in stock."
        return None
    return ["check_demand", "quote_suppliers"]


@restock_workflow.step("check_demand")
async def check_demand(state: RestockState, ctx: WorkflowContext) -> str:
    since = timezone.now() - timedelta(days=30)
    skus = [row["sku"] for row in state.low_stock]
    state.demand = {
        row["product__sku"]: row["sold"]
        async for row in OrderLine.objects.filter(
            product__sku__in=skus, order__created_at__gte=since
        )
        .values("product__sku")
        .annotate(sold=Sum("quantity"))
    }
    return "summarize"


@restock_workflow.step("quote_suppliers", retries=2, timeout_seconds=10)
async def quote_suppliers(state: RestockState, ctx: WorkflowContext) -> str:
    skus = [row["sku"] for row in state.low_stock]
    state.supplier_cost = {
        sku: str((price * Decimal("0.6")).quantize(Decimal("0.01")))
        async for sku, price in Product.objects.filter(sku__in=skus).values_list("sku", "price")
    }
    return "summarize"


@restock_workflow.step("summarize")
async def summarize(state: RestockState, ctx: WorkflowContext) -> Checkpoint:
    lines = [
        f"{row['sku']} {row['name']}: {row['stock']} left, sold {state.demand.get(row['sku'], 0)}"
        f" in 30 days, supplier cost ${state.supplier_cost.get(row['sku'], '?')}"
        for row in state.low_stock
    ]
    reply = await ctx.llm.generate(
        LLMPrompt(
            system="Summarise a restock proposal for a shop manager in two sentences.",
            messages=[LLMMessage(role="user", content="\n".join(lines))],
            max_tokens=300,
        )
    )
    state.summary = reply.content
    return Checkpoint(
        then="place_orders",
        reason=f"Ordering {len(state.low_stock)} product(s) needs a manager's approval",
    )


@restock_workflow.step("place_orders")
async def place_orders(state: RestockState, ctx: WorkflowContext) -> None:
    for row in state.low_stock:
        quantity = max(state.demand.get(row["sku"], 0), state.threshold) * 2
        await Product.objects.filter(sku=row["sku"]).aupdate(stock=F("stock") + quantity)
        state.ordered.append(f"{row['sku']} x{quantity}")


_NUMBER = re.compile(r"\b(\d{1,4})\b")


@agents.agent_endpoint(
    "restock",
    description="Propose supplier orders for products running low (staff; needs approval)",
    workflow=restock_workflow,
    approval=MANAGERS_APPROVE,
    permission_classes=[IsAdminUser],
    tags=["shop", "harness"],
)
async def restock(intent: Intent) -> RestockState:
    """The initial state: "below 10" sets the stock threshold."""
    match = _NUMBER.search(intent.raw)
    return RestockState(threshold=int(match.group(1)) if match else 5)
