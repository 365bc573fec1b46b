"""A small local MCP server, written with the SDK, that the ``delivery`` agent uses as a tool.

Started by the agent's MCP connection as a subprocess (``AGENTIC_DJANGO["MCP_SERVERS"]
["shipping"]`` in settings) and spoken to over stdio; run it by hand with
``python -m example_project.shop.shipping_mcp``. It stands for a carrier's service
the shop does not own: its answers reach the model only through the harness.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("shipping")

#: Days to deliver, by destination country (ISO code), and the carrier used.
TRANSIT = {"FR": (2, "La Poste"), "DE": (3, "DHL"), "GB": (4, "Royal Mail"), "US": (6, "UPS")}


@server.tool()
def delivery_estimate(country: str) -> dict[str, str | int]:
    """How many days a parcel takes to reach ``country`` (a two-letter code), and with whom."""
    code = country.strip().upper()[:2]
    days, carrier = TRANSIT.get(code, (8, "International Post"))
    return {"country": code, "days": days, "carrier": carrier}


if __name__ == "__main__":
    server.run("stdio")
