"""``manage.py seed_shop``: fill the shop with the same demo data every time.

A fixed random seed makes the catalogue, customers and order mix identical on every
machine; order dates are spread over the 60 days before the run so that "last week"
questions always have answers.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from ...models import Customer, Order, OrderLine, OrderStatus, Product

SEED = 20240601
CUSTOMERS = 20
PRODUCTS = 30
ORDERS = 200
DAYS = 60

#: Customers are named after computing pioneers.
CUSTOMER_NAMES = [
    ("Ada", "Lovelace"),
    ("Alan", "Turing"),
    ("Barbara", "Liskov"),
    ("Claude", "Shannon"),
    ("Donald", "Knuth"),
    ("Edsger", "Dijkstra"),
    ("Frances", "Allen"),
    ("Grace", "Hopper"),
    ("Guido", "Rossum"),
    ("Hedy", "Lamarr"),
    ("John", "McCarthy"),
    ("Katherine", "Johnson"),
    ("Ken", "Thompson"),
    ("Linus", "Torvalds"),
    ("Margaret", "Hamilton"),
    ("Niklaus", "Wirth"),
    ("Radia", "Perlman"),
    ("Sophie", "Wilson"),
    ("Tim", "Berners-Lee"),
    ("Vint", "Cerf"),
]
MATERIALS = ("Oak", "Walnut", "Ceramic", "Linen", "Copper", "Wool", "Glass", "Bamboo", "Steel")
ITEMS = ("Desk Lamp", "Mug", "Notebook", "Chair", "Blanket", "Vase", "Shelf", "Kettle", "Tray")
#: Most orders move on past "pending"; a few are cancelled or refunded.
STATUS_WEIGHTS = {
    OrderStatus.PENDING: 15,
    OrderStatus.PAID: 25,
    OrderStatus.SHIPPED: 45,
    OrderStatus.CANCELLED: 10,
    OrderStatus.REFUNDED: 5,
}


class Command(BaseCommand):
    help = "Create deterministic demo customers, products and orders (skips if present)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Delete all shop data first, then seed again."
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        with transaction.atomic():
            if reset:
                OrderLine.objects.all().delete()
                Order.objects.all().delete()
                Product.objects.all().delete()
                Customer.objects.all().delete()
            elif Customer.objects.exists():
                self.stdout.write("Shop data already present; use --reset to recreate it.")
                return
            counts = seed(random.Random(SEED))
        self.stdout.write(
            self.style.SUCCESS(
                "Seeded {customers} customers, {products} products, {orders} orders.".format(
                    **counts
                )
            )
        )


def seed(rng: random.Random) -> dict[str, int]:
    """Create the demo rows with ``rng``; returns how many of each were made."""
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        Customer(
            name=f"{first} {last}",
            email=f"{first.lower()}.{last.lower()}@example.com",
            created=now - timedelta(days=DAYS + rng.randint(1, 300)),
        )
        for first, last in CUSTOMER_NAMES[:CUSTOMERS]
    )
    names = [f"{material} {item}" for material in MATERIALS for item in ITEMS]
    products = Product.objects.bulk_create(
        Product(
            sku=f"SKU-{index:04d}",
            name=name,
            price=Decimal(rng.randint(500, 25000)) / 100,
            stock=rng.choice((0, rng.randint(1, 250))),
        )
        for index, name in enumerate(rng.sample(names, PRODUCTS), start=1)
    )
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    orders: list[Order] = []
    lines: list[OrderLine] = []
    for _ in range(ORDERS):
        order = Order(
            customer=rng.choice(customers),
            status=rng.choices(statuses, weights)[0],
            created_at=now - timedelta(seconds=rng.randint(0, DAYS * 24 * 3600)),
        )
        order_lines = [
            OrderLine(
                order=order, product=product, quantity=rng.randint(1, 3), unit_price=product.price
            )
            for product in rng.sample(products, rng.randint(1, 4))
        ]
        order.total = sum((line.subtotal for line in order_lines), Decimal("0.00"))
        orders.append(order)
        lines.extend(order_lines)
    Order.objects.bulk_create(orders)
    OrderLine.objects.bulk_create(lines)
    return {"customers": len(customers), "products": len(products), "orders": len(orders)}
