"""A stand-in LLM so the demo exercises the LLM code paths without an API key.

It answers every prompt the shop's endpoints send, with simple rules instead of a
model:

* intent parsing: a JSON classification (the keyword parser's) and, for typed
  intents, a payload read from the question with a few patterns (order status
  words, "last N days", e-mail addresses, numbers);
* code generation (``analytics``): one of a few sandbox programs over
  ``data["orders"]``, picked by the question's words;
* the tool loop (``shopper``): a tool call chosen from the question, then an answer
  written from the tool's result;
* anything else (the ``restock`` summary): a sentence restating the prompt.

Set ``AGENTIC_LLM=anthropic`` (or ``openai`` / ``gemini``) with the provider's API key
to use a real model instead.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from agentic_django.core.intent import parse_with_keywords
from agentic_django.llm import FunctionBackend, LLMPrompt, ToolCall

_REQUEST = re.compile(r"<user_request>\s*(.*?)\s*</user_request>", re.DOTALL)
_LAST_DAYS = re.compile(r"\b(?:last|past)\s+(\d{1,3})\s+days?\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\b\d+\b")


def _user_text(prompt: LLMPrompt) -> str:
    text = "\n".join(m.content for m in prompt.messages if m.role == "user")
    match = _REQUEST.search(text)
    return html.unescape(match.group(1) if match else text)


def _extract(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Values for the schema's properties that the text states plainly."""
    lower = text.lower()
    payload: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        options = spec.get("enum") or [
            value for branch in spec.get("anyOf", []) for value in branch.get("enum", [])
        ]
        if options:
            found = next(
                (o for o in options if re.search(rf"\b{re.escape(str(o))}\b", lower)), None
            )
            if found is not None:
                payload[name] = found
        elif "email" in name and (email := _EMAIL.search(text)):
            payload[name] = email.group(0)
        elif name == "days" and (days := _LAST_DAYS.search(text)):
            payload[name] = int(days.group(1))
        elif spec.get("type") == "integer" and name != "days" and (number := _NUMBER.search(text)):
            payload[name] = int(number.group(0))
    return payload


# --- code generation ------------------------------------------------------------------

_PROGRAMS: list[tuple[tuple[str, ...], str, str]] = [
    (
        ("status",),
        "counts and revenue per order status",
        """\
from collections import defaultdict
count = defaultdict(int)
revenue = defaultdict(float)
for order in data["orders"]:
    count[order["status"]] += 1
    revenue[order["status"]] += order["total"]
result = {s: {"orders": count[s], "revenue": round(revenue[s], 2)} for s in sorted(count)}
""",
    ),
    (
        ("average", "mean"),
        "mean and median order value",
        """\
import statistics
totals = [order["total"] for order in data["orders"]]
result = {
    "orders": len(totals),
    "average": round(statistics.mean(totals), 2) if totals else 0,
    "median": round(statistics.median(totals), 2) if totals else 0,
}
""",
    ),
    (
        ("top", "best", "customer"),
        "revenue per customer, the five largest",
        """\
from collections import Counter
spent = Counter()
for order in data["orders"]:
    spent[order["customer"]] += order["total"]
result = [{"customer": name, "revenue": round(total, 2)} for name, total in spent.most_common(5)]
""",
    ),
    (
        ("month", "monthly"),
        "revenue per calendar month",
        """\
from collections import defaultdict
months = defaultdict(float)
for order in data["orders"]:
    months[order["created_at"][:7]] += order["total"]
result = {month: round(total, 2) for month, total in sorted(months.items())}
""",
    ),
]

_DEFAULT_PROGRAM = """\
totals = [order["total"] for order in data["orders"]]
result = {"orders": len(totals), "revenue": round(sum(totals), 2)}
"""


def _program(text: str) -> dict[str, Any]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    for keywords, what, code in _PROGRAMS:
        if words & set(keywords):
            return {"code": code, "reasoning": f"Computes {what}.", "confidence": 0.8}
    return {
        "code": _DEFAULT_PROGRAM,
        "reasoning": "Counts orders and sums revenue.",
        "confidence": 0.6,
    }


# --- the tool loop -----------------------------------------------------------------------

_UNDER = re.compile(r"\b(?:under|below|less than)\s+\$?(\d+(?:\.\d+)?)", re.IGNORECASE)
_ORDER_ID = re.compile(r"\border\s+#?(\d+)\b", re.IGNORECASE)
_STATUSES = ("pending", "paid", "shipped", "cancelled", "refunded")
_NOT_PRODUCT_WORDS = frozenset(
    {"show", "find", "search", "any", "some", "cheap", "products", "product", "under", "below"}
    | {"what", "have", "you", "the", "for", "with", "less", "than", "and", "stock", "in"}
)


_COUNTRY = re.compile(r"\b(?:to|in)\s+([A-Z]{2})\b")


def _first_tool_call(text: str, tools: set[str]) -> ToolCall:
    lower = text.lower()
    if "delivery_estimate" in tools:
        country = match[1] if (match := _COUNTRY.search(text)) else "FR"
        return ToolCall(id="demo_1", name="delivery_estimate", arguments={"country": country})
    if "cancel" in lower and (match := _ORDER_ID.search(text)) and "cancel_order" in tools:
        return ToolCall(id="demo_1", name="cancel_order", arguments={"order_id": int(match[1])})
    if "order" in lower and "my_orders" in tools:
        arguments: dict[str, Any] = {"order_by": "-created_at", "limit": 5}
        status = next((s for s in _STATUSES if s in lower), None)
        if status:
            arguments["filters"] = {"status": status}
        return ToolCall(id="demo_1", name="my_orders", arguments=arguments)
    filters: dict[str, Any] = {}
    if match := _UNDER.search(text):
        filters["price__lte"] = float(match[1])
    words = [w for w in re.findall(r"[a-z]{3,}", lower) if w not in _NOT_PRODUCT_WORDS]
    if words:
        filters["name__icontains"] = words[0].removesuffix("s")
    if "stock" in lower:
        filters["stock__gt"] = 0
    return ToolCall(
        id="demo_1", name="search_products", arguments={"filters": filters, "order_by": "price"}
    )


def _answer_from(tool_text: str) -> str:
    try:
        found = json.loads(tool_text)
    except ValueError:
        return f"The tool said: {tool_text[:300]}"
    if not isinstance(found, dict):
        return f"The tool returned: {tool_text[:300]}"
    if "carrier" in found:
        return f"Delivery to {found['country']} takes {found['days']} days with {found['carrier']}."
    if "cancelled" in found:
        done = "has been cancelled" if found["cancelled"] else "could not be cancelled"
        return f"Order {found.get('order_id')} {done}."
    rows = found.get("rows", [])
    if not rows:
        return "I found nothing matching that."
    listed = "; ".join(", ".join(f"{k}: {v}" for k, v in row.items()) for row in rows[:5])
    more = f" (and {found['count'] - 5} more)" if found.get("count", 0) > 5 else ""
    return f"I found {found.get('count', len(rows))}: {listed}{more}."


def _loop_step(prompt: LLMPrompt) -> str | ToolCall:
    last = prompt.messages[-1]
    if last.role == "tool":
        return _answer_from(last.content)
    tools = {spec.get("name", "") for spec in prompt.tools or []}
    return _first_tool_call(last.content, tools)


# --- dispatch ------------------------------------------------------------------------------


def reply(prompt: LLMPrompt) -> dict[str, Any] | str | ToolCall:
    if prompt.tools:
        return _loop_step(prompt)
    text = _user_text(prompt)
    if prompt.response_schema_name == "generated_code":
        return _program(text)
    if prompt.response_schema is not None:
        return _extract(prompt.response_schema, text)
    if prompt.system.startswith("You classify"):
        intent = parse_with_keywords(text)
        return {
            "action": intent.action.value,
            "domain": intent.domain,
            "parameters": {},
            "confidence": 0.7,
            "ambiguities": [],
        }
    lines = [line for line in text.splitlines() if line.strip()]
    return f"Proposal covering {len(lines)} item(s): " + "; ".join(lines[:5])


class ShopDemoBackend(FunctionBackend):
    """:class:`FunctionBackend` answering with :func:`reply`; priced at 0 as ``mock``."""

    def __init__(self, *, model: str = "mock") -> None:
        super().__init__(reply, model=model)
