"""A streaming shop endpoint: ``refunds`` asks the customer mid-stream before refunding.

``POST /agents/refunds/stream/`` answers with Server-Sent Events: a thought, a few
partial results describing the caller's most recent refundable order, then an
``approval_requested`` event. The run waits until someone answers it
(``POST /agents/runs/<run_id>/resume/``, the WebSocket, or admin) or the time runs
out (the default, "reject", applies), and ends with a ``final`` event saying whether
the order was refunded. ``/shop/assistant/`` is a page that drives it from a browser.

No LLM is needed: the text is composed here, so the demo gives the same answer every
time. ``shop/agents.py`` imports this module, so autodiscovery registers it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework.permissions import IsAuthenticated

from agentic_django import AgentContext, AgentStream, Intent, agents

from .models import Order, OrderLine, OrderStatus

#: Orders a customer may have refunded: paid for, not cancelled or refunded already.
REFUNDABLE = (OrderStatus.PAID, OrderStatus.SHIPPED)

#: How long the customer has to answer before the refund is declined.
DECISION_SECONDS = 120

#: Order lines listed one by one before the total.
SHOWN_LINES = 5


def _money(amount: Decimal) -> str:
    """Catalogue prices are in US dollars."""
    return f"${amount:,.2f}"


@agents.agent_endpoint(
    "refunds",
    streaming="sse",
    description=(
        "Refund your most recent paid or shipped order; streams its progress and asks "
        "you to approve before refunding"
    ),
    permission_classes=[IsAuthenticated],
    tags=["shop"],
)
async def refunds(intent: Intent, context: AgentContext, stream: AgentStream) -> dict[str, Any]:
    """Find the caller's order, describe it, ask, then refund it only if approved."""
    user = context.user
    await stream.emit_thought(
        f'{user.get_username()} asked: "{intent.raw.strip()[:200]}". '
        "Looking up their most recent paid or shipped order."
    )
    order = None
    if user.email:
        order = await (
            Order.objects.filter(customer__email__iexact=user.email, status__in=REFUNDABLE)
            .order_by("-created_at", "-pk")
            .afirst()
        )
    if order is None:
        await stream.emit_partial("I found no paid or shipped order of yours to refund.")
        return {
            "refunded": False,
            "order": None,
            "decision": None,
            "message": "No refundable order found.",
        }

    await stream.emit_partial(
        f"Your most recent order is #{order.pk}, placed {order.created_at:%Y-%m-%d}, "
        f"{order.get_status_display().lower()}.",
        data={"order": order.pk, "status": order.status},
    )
    lines = [
        line
        async for line in OrderLine.objects.filter(order=order)
        .select_related("product")
        .order_by("pk")
    ]
    for line in lines[:SHOWN_LINES]:
        await stream.emit_partial(
            f"{line.quantity} x {line.product.name} at {_money(line.unit_price)}"
        )
    if len(lines) > SHOWN_LINES:
        await stream.emit_partial(f"… and {len(lines) - SHOWN_LINES} more line(s).")
    amount = _money(order.total)
    await stream.emit_partial(f"A refund would return {amount} to you.")

    decision = await stream.request_approval(
        f"Refund order #{order.pk} ({amount})?",
        options=["approve", "reject"],
        timeout_seconds=DECISION_SECONDS,
    )
    result: dict[str, Any] = {
        "order": order.pk,
        "amount": str(order.total),
        "decision": decision,
        "refunded": False,
    }
    if decision != "approve":
        result["message"] = f"Refund of order #{order.pk} declined; nothing was changed."
        return result
    # Only a still-refundable order changes, so two runs cannot refund it twice.
    changed = await Order.objects.filter(pk=order.pk, status__in=REFUNDABLE).aupdate(
        status=OrderStatus.REFUNDED
    )
    if not changed:
        result["message"] = f"Order #{order.pk} is no longer refundable; nothing was changed."
        return result
    result["refunded"] = True
    result["message"] = f"Order #{order.pk} refunded: {amount}."
    return result
