from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.test import override_settings

from agentic_django import checks as agentic_checks
from agentic_django.registry import AgentEndpointDef, agents

ROOT = Path(__file__).resolve().parents[1]


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


@override_settings(
    AGENTIC_DJANGO={"MAX_RESULT_DEPTH": 0, "MAX_RESULT_CHARS": -1, "HEALTH_DETAILS": "all"}
)
def test_bad_result_limits_and_health_details_are_reported():
    messages = [m.msg for m in agentic_checks.check_settings()]
    assert any("MAX_RESULT_DEPTH" in m for m in messages)
    assert any("MAX_RESULT_CHARS" in m for m in messages)
    assert any("HEALTH_DETAILS" in m for m in messages)


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


# --- settings added for operations ----------------------------------------------------------


@override_settings(
    AGENTIC_DJANGO={
        "RUN_RETENTION_DAYS": 0,
        "LLM_CALL_RETENTION_DAYS": None,
        "HEALTH_TIMEOUT_SECONDS": "2",
    }
)
def test_retention_and_health_timeout_values_are_checked():
    messages = agentic_checks.check_settings()
    assert [m.msg for m in messages if m.id == agentic_checks.E002_BAD_SETTING_VALUE] == [
        "AGENTIC_DJANGO['RUN_RETENTION_DAYS'] must be a positive integer, got 0.",
        "AGENTIC_DJANGO['HEALTH_TIMEOUT_SECONDS'] must be a positive number, got '2'.",
    ]


@override_settings(AGENTIC_DJANGO={"HEALTH_TIMEOUT_SECONDS": 0.5, "RUN_RETENTION_DAYS": 7})
def test_fractional_health_timeouts_and_set_retentions_are_accepted():
    assert agentic_checks.check_settings() == []


@override_settings(AGENTIC_DJANGO={"INTENT_PARSER_LLM": "parser", "LLM_BACKENDS": {}})
def test_the_intent_parser_alias_must_be_configured():
    messages = [
        m
        for m in agentic_checks.check_llm_backends()
        if m.id == agentic_checks.E006_UNKNOWN_LLM_ALIAS and "INTENT_PARSER_LLM" in m.msg
    ]
    assert len(messages) == 1 and "'parser'" in messages[0].msg


# --- deploy checks ------------------------------------------------------------------------


@override_settings(
    AGENTIC_DJANGO={
        "LLM_BACKENDS": {
            "real": {"BACKEND": "agentic_django.llm.AnthropicBackend"},
            "canned": {"BACKEND": "agentic_django.llm.MockBackend"},
            "computed": {"BACKEND": "agentic_django.llm.FunctionBackend"},
        }
    }
)
def test_test_double_llm_backends_are_reported_for_production():
    messages = agentic_checks.check_mock_llm()
    assert ids(messages) == [agentic_checks.W003_MOCK_LLM] * 2
    assert "'canned'" in messages[0].msg and "'computed'" in messages[1].msg


def test_deploy_checks_run_only_with_deploy():
    deploy_only = {
        agentic_checks.check_mock_llm,
        agentic_checks.check_sandbox_network,
        agentic_checks.check_sandbox_isolation,
        agentic_checks.check_channel_layer,
        agentic_checks.check_llm_backends_usable,
        agentic_checks.check_public_llm_endpoints,
    }
    registered = checks.registry.registry.get_checks(include_deployment_checks=False)
    assert deploy_only.isdisjoint(registered)
    assert deploy_only <= set(checks.registry.registry.get_checks(include_deployment_checks=True))


def test_a_sandbox_that_cannot_isolate_the_network_is_reported(monkeypatch):
    from agentic_django.checks import deploy
    from agentic_django.testing import isolated_agents

    monkeypatch.setattr(deploy, "runner_isolates_network", lambda: False)
    with isolated_agents() as site:
        _codegen_endpoint(site)
        messages = agentic_checks.check_sandbox_network()
    assert ids(messages) == [agentic_checks.W004_SANDBOX_NETWORK]
    assert "'default'" in messages[0].msg


def test_the_sandbox_is_not_probed_without_codegen_endpoints(monkeypatch):
    from agentic_django.checks import deploy
    from agentic_django.testing import isolated_agents

    def probe():
        raise AssertionError("probed")

    monkeypatch.setattr(deploy, "runner_isolates_network", probe)
    with isolated_agents() as site:
        for endpoint in [endpoint for endpoint in site if endpoint.codegen]:
            site.unregister(endpoint.name)
        assert agentic_checks.check_sandbox_network() == []


def test_the_network_probe_agrees_with_a_real_execution():
    from asgiref.sync import async_to_sync

    from agentic_django.harness import SubprocessSandbox

    executed = async_to_sync(SubprocessSandbox().execute)("result = 1")
    assert agentic_checks.runner_isolates_network() is executed.isolation.network_namespace


def test_an_in_memory_or_missing_channel_layer_is_reported(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    [message] = agentic_checks.check_channel_layer()
    assert message.id == agentic_checks.W005_PROCESS_LOCAL_CHANNEL_LAYER
    assert "in-memory" in message.msg and "channels_redis" in message.hint
    del settings.CHANNEL_LAYERS
    [message] = agentic_checks.check_channel_layer()
    assert "not configured" in message.msg


def test_a_shared_channel_layer_passes(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    assert agentic_checks.check_channel_layer() == []


def test_the_channel_layer_warning_names_celery_workers(settings):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}
    [message] = agentic_checks.check_channel_layer()
    assert "Celery workers" in message.msg


# --- the Celery broker --------------------------------------------------------------------


@pytest.fixture
def bare_celery_app(monkeypatch):
    """A Celery app with no configuration, current for the test."""
    from celery import Celery, current_app

    previous = current_app._get_current_object()
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    app = Celery("bare", set_as_current=True)
    yield app
    previous.set_current()


def test_celery_without_a_broker_is_reported(settings, bare_celery_app):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}
    del settings.CELERY_BROKER_URL
    assert ids(agentic_checks.check_broker()) == [agentic_checks.W006_NO_BROKER]
    settings.CELERY_BROKER_URL = "redis://broker:6379/0"
    assert agentic_checks.check_broker() == []


def test_a_broker_set_on_the_celery_app_counts(settings, bare_celery_app):
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "TASK_RUNNER": "celery"}
    del settings.CELERY_BROKER_URL
    bare_celery_app.conf.broker_url = "redis://broker:6379/0"
    assert agentic_checks.check_broker() == []


def test_the_broker_is_not_needed_inline(settings, bare_celery_app):
    del settings.CELERY_BROKER_URL
    assert agentic_checks.check_broker() == []


# --- approvers ----------------------------------------------------------------------------


def _approved_endpoint(site, *approvers):
    from agentic_django.harness import ApprovalRule, ApprovalWorkflow

    @site.agent_endpoint(
        "guarded", approval=ApprovalWorkflow([ApprovalRule(name="writes", approvers=approvers)])
    )
    async def guarded(intent):
        return None


def test_approver_permissions_no_model_declares_are_errors():
    from agentic_django.testing import isolated_agents

    with isolated_agents() as site:
        _approved_endpoint(
            site,
            "perm:agentic_django.approve_approvalrequest",  # Meta.permissions
            "perm:agentic_django.toggle_agent",
            "perm:auth.view_user",  # a default permission
            "perm:shop.refund_order",
            "group:nobody-checks-groups-here",
        )
        messages = agentic_checks.check_approver_permissions()
    assert ids(messages) == [agentic_checks.E011_UNKNOWN_APPROVER_PERMISSION]
    assert "'perm:shop.refund_order'" in messages[0].msg and "'guarded'" in messages[0].msg


@pytest.mark.django_db
def test_approver_groups_and_users_missing_from_the_database_are_reported(django_user_model):
    from django.contrib.auth.models import Group

    from agentic_django.testing import isolated_agents

    Group.objects.create(name="leads")
    django_user_model.objects.create_user(username="carol")
    with isolated_agents() as site:
        _approved_endpoint(site, "group:leads", "group:ghosts", "user:carol", "user:nobody")
        assert agentic_checks.check_approvers_exist() == []  # needs a database
        messages = agentic_checks.check_approvers_exist(databases=["default"])
    messages = [m for m in messages if "'guarded'" in m.msg]
    assert ids(messages) == [agentic_checks.W007_UNKNOWN_APPROVER] * 2
    assert "'ghosts'" in messages[0].msg and "'nobody'" in messages[1].msg


@pytest.mark.django_db
def test_agent_llm_alias_overrides_must_be_configured():
    from agentic_django.models import Agent

    Agent.objects.create(name="ok", llm_alias="reports")
    Agent.objects.create(name="as-in-code")
    Agent.objects.create(name="typo", llm_alias="raports")
    messages = agentic_checks.check_agent_llm_aliases(databases=["default"])
    assert ids(messages) == [agentic_checks.W008_UNKNOWN_AGENT_LLM_ALIAS]
    assert "'typo'" in messages[0].msg and "'raports'" in messages[0].msg


@pytest.mark.django_db
def test_database_checks_wait_for_the_tables(monkeypatch, django_assert_num_queries):
    from django.db import connection

    from agentic_django.models import Agent

    Agent.objects.create(name="typo", llm_alias="raports")
    monkeypatch.setattr(connection.introspection, "table_names", lambda *a, **k: [])
    with django_assert_num_queries(0):
        assert agentic_checks.check_agent_llm_aliases(databases=["default"]) == []
        assert agentic_checks.check_approvers_exist(databases=["default"]) == []


@pytest.mark.django_db
def test_the_test_project_passes_the_database_checks_without_errors():
    messages = checks.run_checks(databases=["default"])
    assert [m for m in messages if m.level >= checks.ERROR] == []


def _sandbox_settings(settings, disable=(), scope="user"):
    sandbox = {"BACKEND": "agentic_django.harness.ForkServerSandbox"}
    if disable:
        sandbox["OPTIONS"] = {"disable": list(disable)}
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "SANDBOX": {"default": sandbox},
        "CODE_CACHE": {"SCOPE": scope},
    }


def test_a_sandbox_missing_a_protection_is_reported_with_what_it_misses(settings):
    from agentic_django.testing import isolated_agents

    _sandbox_settings(settings, disable=["seccomp", "ipc_namespace"])
    with isolated_agents() as site:
        _codegen_endpoint(site)
        [message] = agentic_checks.check_sandbox_isolation()
    assert message.id == agentic_checks.W009_SANDBOX_DEGRADED
    assert "ipc_namespace" in message.msg and "seccomp" in message.msg


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="full isolation needs root here")
def test_a_fully_isolated_sandbox_passes_the_isolation_checks(settings):
    from agentic_django.testing import isolated_agents

    _sandbox_settings(settings, scope="shared")
    with isolated_agents() as site:
        _codegen_endpoint(site, data_sample="schema")
        assert agentic_checks.check_sandbox_isolation() == []
        assert agentic_checks.E014_SHARED_CACHE_NOT_ISOLATED not in ids(
            agentic_checks.check_harness()
        )


def test_sharing_cached_code_is_refused_unless_the_sandbox_is_fully_isolated(settings):
    from agentic_django.testing import isolated_agents

    _sandbox_settings(settings, disable=["pid_namespace"], scope="shared")
    with isolated_agents() as site:
        _codegen_endpoint(site, data_sample="schema")
        messages = [
            m
            for m in agentic_checks.check_harness()
            if m.id == agentic_checks.E014_SHARED_CACHE_NOT_ISOLATED
        ]
    assert len(messages) == 1 and "pid_namespace" in messages[0].msg


def test_the_isolation_probe_agrees_with_a_real_execution():
    from asgiref.sync import async_to_sync

    from agentic_django.harness import ForkServerSandbox

    with ForkServerSandbox(pool_size=1, disable=["uts_namespace"]) as box:
        executed = async_to_sync(box.execute)("result = 1")
    probed = agentic_checks.sandbox_isolation(("uts_namespace",))
    assert probed.missing() == executed.isolation.missing()
    assert probed.uts_namespace is executed.isolation.uts_namespace is False


@pytest.mark.urls("tests.urls_without_agents")
def test_a_project_without_the_agent_urls_is_told():
    assert ids(agentic_checks.check_urls_included()) == ["agentic_django.W010"]


def test_the_agent_urls_included_pass():
    assert agentic_checks.check_urls_included() == []


def test_a_project_without_rest_framework_fails_check(tmp_path):
    # A real project's `manage.py check`: passing it used to end in a 500 in the browser.
    (tmp_path / "no_drf_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "INSTALLED_APPS = [a for a in INSTALLED_APPS if not a.startswith('rest_framework')]\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "no_drf_settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "agentic_django.E015" in result.stderr and "'rest_framework'" in result.stderr


@override_settings(
    AGENTIC_DJANGO={
        "LLM_BACKENDS": {
            "keyless": {"BACKEND": "agentic_django.llm.AnthropicBackend"},
            "no_sdk": {"BACKEND": "agentic_django.llm.OpenAIBackend", "OPTIONS": {"api_key": "k"}},
            "fine": {"BACKEND": "agentic_django.llm.MockBackend"},
        }
    }
)
def test_a_provider_backend_without_its_key_or_sdk_is_reported_before_deploying(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setitem(sys.modules, "openai", None)  # as if the extra were not installed
    messages = agentic_checks.check_llm_backends_usable()
    assert ids(messages) == [agentic_checks.W011_LLM_BACKEND_UNUSABLE] * 2
    assert "'keyless'" in messages[0].msg and "ANTHROPIC_API_KEY" in messages[0].msg
    assert "'no_sdk'" in messages[1].msg and "pip install" in messages[1].msg


def test_public_llm_endpoints_without_a_throttle_are_reported_for_production():
    from rest_framework.permissions import AllowAny
    from rest_framework.throttling import AnonRateThrottle

    from agentic_django.testing import isolated_agents

    with isolated_agents() as site:
        for name in list(site.endpoints):
            site.unregister(name)

        async def handler(intent, context):
            return None

        site.agent_endpoint("open_codegen", codegen=True, permission_classes=[AllowAny])(handler)
        site.agent_endpoint(
            "throttled",
            codegen=True,
            permission_classes=[AllowAny],
            throttle_classes=[AnonRateThrottle],
        )(handler)
        site.agent_endpoint("logged_in_only", codegen=True)(handler)
        site.agent_endpoint("open_no_llm", permission_classes=[AllowAny])(handler)
        messages = agentic_checks.check_public_llm_endpoints()
    assert ids(messages) == [agentic_checks.W012_PUBLIC_LLM_ENDPOINT_UNTHROTTLED]
    assert "'open_codegen'" in messages[0].msg
