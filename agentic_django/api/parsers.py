"""The agent API's JSON parser: DRF's, refusing bodies nested too deep with a 400."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from ..conf import agentic_settings
from ..core.storable import exceeds_depth


class BoundedJSONParser(JSONParser):
    """DRF's ``JSONParser`` with a nesting limit (``MAX_RESULT_DEPTH``).

    A body nested a few thousand levels makes ``json`` raise ``RecursionError``,
    which DRF does not turn into a 400; one nested a few hundred levels parses but
    then costs every layer that walks it.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        limit = agentic_settings.MAX_RESULT_DEPTH
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels") from None
        if exceeds_depth(data, limit):
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels")
        return data
