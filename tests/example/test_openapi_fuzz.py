"""Schemathesis against the example shop, driven by its own ``/agents/openapi.json``.

Requests generated from the document, valid and invalid, must never get a server
error, and every status answered must be one the document declares, with a body of
the declared content type.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

pytestmark = pytest.mark.integration

#: Requests per operation and generation mode (the shop has about a dozen operations).
EXAMPLES = 20


def headers(shop: Any) -> dict[str, str]:
    return {"Authorization": f"Token {shop.tokens['ada']}"}


def operations(shop: Any) -> list[Any]:
    schema = schemathesis.openapi.from_url(
        f"{shop.base}/agents/openapi.json", headers=headers(shop)
    )
    # Streams answer text/event-stream for as long as a run lasts; their error paths
    # are covered by tests/streaming.
    schema = schema.exclude(path_regex=r"/stream/$")
    return [result.ok() for result in schema.get_all_operations()]


def _not_multipart(case: Any) -> bool:
    return not str(case.media_type or "").startswith("multipart/")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_shop_api_answers_as_its_openapi_document_says(shop, mode):
    found = operations(shop)
    assert len(found) >= 8, [op.label for op in found]
    for operation in found:
        # JSON bodies only: daphne's HTTP layer (Twisted) parses a multipart body itself
        # and answers a malformed one with a bare 400 before Django sees the request.

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode).filter(_not_multipart))
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=shop.base,
                headers=headers(shop),
                checks=[not_a_server_error, status_code_conformance, content_type_conformance],
                timeout=60,
            )

        try:
            check()
        except Unsatisfiable:
            # Nothing about this operation can be invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, operation.label
