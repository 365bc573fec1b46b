"""Customers, products and orders for the agent endpoints in ``shop/agents.py`` to query."""
