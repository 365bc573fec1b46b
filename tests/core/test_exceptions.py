from __future__ import annotations

import pytest

from agentic_django.core import exceptions as exc


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (exc.AgenticError, 500),
        (exc.InvalidRequest, 400),
        (exc.IntentParseError, 400),
        (exc.EndpointNotFound, 404),
        (exc.AuthenticationError, 401),
        (exc.PermissionDenied, 403),
        (exc.PolicyViolation, 403),
        (exc.SandboxViolation, 403),
        (exc.BudgetExceeded, 402),
        (exc.ApprovalRequired, 202),
        (exc.AgentDisabled, 503),
        (exc.CodeGenerationError, 502),
        (exc.LLMProviderError, 502),
        (exc.ApprovalStateError, 409),
    ],
)
def test_each_error_has_its_status(error, status):
    assert exc.http_status_for(error) == status
    assert exc.http_status_for(error("x")) == status


def test_user_subclasses_inherit_their_parents_status():
    class RefundWindowClosed(exc.PolicyViolation):
        pass

    class DeeperStill(RefundWindowClosed):
        pass

    assert exc.http_status_for(DeeperStill("closed")) == 403


def test_foreign_exceptions_are_500():
    assert exc.http_status_for(ValueError("x")) == 500


def test_policy_violation_keeps_policy_and_violations():
    error = exc.PolicyViolation("no", policy="pii", violations=["email found"])
    assert (error.policy, error.violations, str(error)) == ("pii", ["email found"], "no")
