"""Requests generated from the project's drf-spectacular document, sent to the test project.

Schemathesis reads the document the project serves (with the agent endpoints,
streams and approvals merged in), generates valid and invalid requests for every
operation and sends them in process to the project's WSGI application. Every
answer must be one the document lists for that operation, and none a 5xx.
"""

from __future__ import annotations

import pytest

pytest.importorskip("drf_spectacular")
pytest.importorskip("schemathesis")
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance

SCHEMA = "/api/schema/"

#: The checks asked of every answer: no server error, a documented status code.
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance]
#: Test-project endpoints built to misbehave, for the tests of that behaviour:
#: ``boom`` and ``crashing`` raise in their handler (the 500 answer that keeps
#: internal details out), ``slow`` sleeps 30 seconds (disconnects and cancelling).
FAILING_ON_PURPOSE = frozenset({"/agents/boom/", "/agents/crashing/", "/agents/slow/"})
#: Requests generated per operation and mode: enough to reach each operation's
#: error paths (missing fields, wrong types, unknown ids) within the CI budget.
EXAMPLES = 10


@pytest.fixture
def token(user):
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=user).key


@pytest.fixture
def wsgi_app(db):
    """The project's WSGI application, sharing the test's database transaction.

    A real handler closes the database connection when each request ends, which
    would end the test's transaction too; Django's test client keeps it open the
    same way, by leaving ``close_old_connections`` out while the test runs.
    """
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def spectacular_api(wsgi_app, token):
    """The document served at ``/api/schema/``, bound to the project's WSGI app."""
    return schemathesis.openapi.from_wsgi(
        SCHEMA,
        wsgi_app,
        headers={"Authorization": f"Token {token}", "Accept": "application/vnd.oai.openapi+json"},
    )


@pytest.fixture
def reports_llm():
    """The ``reports`` endpoint's model, answering every prompt with a valid program."""
    from agentic_django.llm import FunctionBackend
    from agentic_django.testing import use_llm

    program = {"code": "result = len(data['reports'])", "reasoning": "counts", "confidence": 0.9}
    with use_llm(FunctionBackend(lambda prompt: program), "reports") as backend:
        yield backend


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_generated_request_gets_a_server_error_or_an_undocumented_status(
    spectacular_api, token, mock_llm, reports_llm, mode
):
    # Each operation runs under Hypothesis here rather than through
    # ``schemathesis.pytest.from_fixture``: its lazy loader renames pytest's
    # private ``Function._nodeid``, which pytest 9.2 no longer has.
    failures = []
    operations = [
        operation
        for operation in (result.ok() for result in spectacular_api.get_all_operations())
        if operation.path not in FAILING_ON_PURPOSE
    ]
    assert len(operations) > 10, "the document lost its operations"
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            # Each example runs the whole request cycle against the test database.
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to make invalid: the operation takes no input
        # Schemathesis raises its failures as an exception group (a BaseException):
        # collect every failing operation instead of stopping at the first.
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_an_offset_past_what_the_database_takes_is_a_bad_request(client, user):
    # Found by the generated requests: an offset past 64 bits made the database
    # refuse the query, a 500.
    client.force_login(user)
    assert client.get("/agents/approvals/", {"offset": 2**63}).status_code == 400
    assert client.get("/agents/approvals/", {"offset": 1_000_000}).json()["results"] == []
