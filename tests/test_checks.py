from __future__ import annotations

from django.core import checks
from django.test import override_settings

from agentic_django import checks as agentic_checks
from agentic_django.registry import AgentEndpointDef, agents


def ids(messages):
    return [message.id for message in messages]


def test_the_test_project_passes_all_checks():
    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    assert errors == []


@override_settings(AGENTIC_DJANGO={"SESION_TTL_SECONDS": 5})
def test_a_misspelt_setting_is_reported():
    assert agentic_checks.E001_UNKNOWN_SETTING in ids(agentic_checks.check_settings())


@override_settings(AGENTIC_DJANGO={"MAX_INTENT_CHARS": 0, "SESSION_TTL_SECONDS": "soon"})
def test_non_positive_integers_are_reported():
    assert ids(agentic_checks.check_settings()).count(agentic_checks.E002_BAD_SETTING_VALUE) == 2


@override_settings(AGENTIC_DJANGO={"DEFAULT_PERMISSION_CLASSES": ["nope.Nothing"]})
def test_unimportable_classes_are_reported():
    assert agentic_checks.E003_IMPORT_FAILED in ids(agentic_checks.check_settings())


@override_settings(AGENTIC_DJANGO={"TASK_RUNNER": "threads"})
def test_an_unknown_task_runner_is_reported():
    assert agentic_checks.E005_TASK_RUNNER in ids(agentic_checks.check_settings())


def test_a_definition_registered_by_hand_is_checked():
    agents.register(
        AgentEndpointDef(
            name="handmade", handler=lambda i, c: None, autonomy_level="wild", response_model=dict
        )  # type: ignore[arg-type]
    )
    try:
        messages = agentic_checks.check_endpoints()
    finally:
        agents.unregister("handmade")
    assert ids(messages).count(agentic_checks.E004_BAD_ENDPOINT) == 2
