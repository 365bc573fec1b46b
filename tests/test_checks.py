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


def _codegen_endpoint(site, **options):
    @site.agent_endpoint("numbers", codegen=True, **options)
    async def numbers(intent):
        return [1, 2, 3]


def test_sharing_cached_code_is_refused_for_endpoints_that_show_values(settings):
    from agentic_django.testing import isolated_agents

    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "CODE_CACHE": {"SCOPE": "shared"}}
    with isolated_agents() as site:
        _codegen_endpoint(site)
        assert agentic_checks.E009_SHARED_CODE_CACHE in ids(agentic_checks.check_harness())
    with isolated_agents() as site:
        _codegen_endpoint(site, data_sample="schema")
        assert agentic_checks.E009_SHARED_CODE_CACHE not in ids(agentic_checks.check_harness())
    with isolated_agents() as site:
        _codegen_endpoint(site, code_cache=False)
        assert agentic_checks.E009_SHARED_CODE_CACHE not in ids(agentic_checks.check_harness())


@override_settings(AGENTIC_DJANGO={"CODE_CACHE": {"SCOPE": "everyone"}})
def test_an_unknown_cache_scope_is_reported():
    assert agentic_checks.E002_BAD_SETTING_VALUE in ids(agentic_checks.check_harness())


def test_sandbox_aliases_and_backends_are_checked(settings):
    from agentic_django.testing import isolated_agents

    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "SANDBOX": {"default": {"BACKEND": "agentic_django.harness.SubprocessSandbox"}},
    }
    with isolated_agents() as site:
        _codegen_endpoint(site, sandbox="strict")
        messages = agentic_checks.check_harness()
    assert [m.id for m in messages] == [agentic_checks.E008_BAD_SANDBOX]
    assert "'strict'" in messages[0].msg
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "SANDBOX": {"default": {"BACKEND": "agentic_django.harness.CodePolicy"}},
    }
    assert agentic_checks.E008_BAD_SANDBOX in ids(agentic_checks.check_harness())


@override_settings(AGENTIC_DJANGO={"DEFAULT_POLICIES": ["agentic_django.harness.nothing_here"]})
def test_default_policies_that_cannot_be_resolved_are_reported():
    assert agentic_checks.E010_BAD_POLICIES in ids(agentic_checks.check_harness())


def test_codegen_and_tool_endpoints_need_their_llm_alias(settings):
    from agentic_django.testing import isolated_agents

    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "LLM_BACKENDS": {}}
    with isolated_agents() as site:
        _codegen_endpoint(site)
        messages = agentic_checks.check_llm_backends()
    assert agentic_checks.E006_UNKNOWN_LLM_ALIAS in ids(messages)


def test_a_workflow_without_steps_is_reported():
    from pydantic import BaseModel

    from agentic_django.runtime import AgentWorkflow
    from agentic_django.testing import isolated_agents

    class State(BaseModel):
        done: bool = False

    with isolated_agents() as site:

        @site.agent_endpoint("empty", workflow=AgentWorkflow("empty", State))
        async def empty(intent):
            return None

        messages = agentic_checks.check_endpoints()
    assert [m.id for m in messages if "no steps" in m.msg] == [agentic_checks.E004_BAD_ENDPOINT]
