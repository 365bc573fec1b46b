"""System checks of agentic_django, registered on import (``AppConfig.ready()``).

Ids are stable (:mod:`.ids`) and documented in ``docs/checks.md``. Besides the
checks every command runs (:mod:`.configuration`), ``deploy=True`` checks
(:mod:`.deploy`, ``manage.py check --deploy``) look for what is fine in
development and wrong in production, and ``Tags.database`` checks
(:mod:`.database`, run by ``migrate`` and ``check --database default``) compare
the code with the database.
"""

from __future__ import annotations

from .configuration import (
    check_approver_permissions,
    check_broker,
    check_endpoints,
    check_harness,
    check_llm_backends,
    check_settings,
    declared_permissions,
)
from .database import check_agent_llm_aliases, check_approvers_exist
from .deploy import (
    check_channel_layer,
    check_llm_backends_usable,
    check_mock_llm,
    check_public_llm_endpoints,
    check_sandbox_isolation,
    check_sandbox_network,
    runner_isolates_network,
    sandbox_isolation,
)
from .ids import (
    E001_UNKNOWN_SETTING,
    E002_BAD_SETTING_VALUE,
    E003_IMPORT_FAILED,
    E004_BAD_ENDPOINT,
    E005_TASK_RUNNER,
    E006_UNKNOWN_LLM_ALIAS,
    E007_BAD_LLM_BACKEND,
    E008_BAD_SANDBOX,
    E009_SHARED_CODE_CACHE,
    E010_BAD_POLICIES,
    E011_UNKNOWN_APPROVER_PERMISSION,
    E012_MCP_SDK_MISSING,
    E013_BAD_MCP_SERVER,
    E014_SHARED_CACHE_NOT_ISOLATED,
    E015_REST_FRAMEWORK_MISSING,
    W001_NO_ENDPOINTS,
    W002_UNPRICED_MODEL,
    W003_MOCK_LLM,
    W004_SANDBOX_NETWORK,
    W005_PROCESS_LOCAL_CHANNEL_LAYER,
    W006_NO_BROKER,
    W007_UNKNOWN_APPROVER,
    W008_UNKNOWN_AGENT_LLM_ALIAS,
    W009_SANDBOX_DEGRADED,
    W010_URLS_NOT_INCLUDED,
    W011_LLM_BACKEND_UNUSABLE,
    W012_PUBLIC_LLM_ENDPOINT_UNTHROTTLED,
)
from .mcp import check_mcp
from .project import check_rest_framework, check_urls_included

__all__ = [
    "E001_UNKNOWN_SETTING",
    "E002_BAD_SETTING_VALUE",
    "E003_IMPORT_FAILED",
    "E004_BAD_ENDPOINT",
    "E005_TASK_RUNNER",
    "E006_UNKNOWN_LLM_ALIAS",
    "E007_BAD_LLM_BACKEND",
    "E008_BAD_SANDBOX",
    "E009_SHARED_CODE_CACHE",
    "E010_BAD_POLICIES",
    "E011_UNKNOWN_APPROVER_PERMISSION",
    "E012_MCP_SDK_MISSING",
    "E013_BAD_MCP_SERVER",
    "E014_SHARED_CACHE_NOT_ISOLATED",
    "E015_REST_FRAMEWORK_MISSING",
    "W001_NO_ENDPOINTS",
    "W002_UNPRICED_MODEL",
    "W003_MOCK_LLM",
    "W004_SANDBOX_NETWORK",
    "W005_PROCESS_LOCAL_CHANNEL_LAYER",
    "W006_NO_BROKER",
    "W007_UNKNOWN_APPROVER",
    "W008_UNKNOWN_AGENT_LLM_ALIAS",
    "W009_SANDBOX_DEGRADED",
    "W010_URLS_NOT_INCLUDED",
    "W011_LLM_BACKEND_UNUSABLE",
    "W012_PUBLIC_LLM_ENDPOINT_UNTHROTTLED",
    "check_agent_llm_aliases",
    "check_approver_permissions",
    "check_approvers_exist",
    "check_broker",
    "check_channel_layer",
    "check_endpoints",
    "check_harness",
    "check_llm_backends",
    "check_llm_backends_usable",
    "check_mcp",
    "check_mock_llm",
    "check_public_llm_endpoints",
    "check_rest_framework",
    "check_sandbox_isolation",
    "check_sandbox_network",
    "check_settings",
    "check_urls_included",
    "declared_permissions",
    "runner_isolates_network",
    "sandbox_isolation",
]
