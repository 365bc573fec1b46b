"""Production checks (``manage.py check --deploy``): what is fine in development only."""

from __future__ import annotations

from typing import Any

from django.core import checks

from ..conf import agentic_settings
from .ids import (
    W003_MOCK_LLM,
    W004_SANDBOX_NETWORK,
    W005_PROCESS_LOCAL_CHANNEL_LAYER,
    W009_SANDBOX_DEGRADED,
    W011_LLM_BACKEND_UNUSABLE,
    W012_PUBLIC_LLM_ENDPOINT_UNTHROTTLED,
)


@checks.register(checks.Tags.security, deploy=True)
def check_mock_llm(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """An LLM alias served by the test doubles answers with canned or computed text."""
    from django.utils.module_loading import import_string

    from ..llm import FunctionBackend, MockBackend

    messages: list[checks.CheckMessage] = []
    backends = agentic_settings.user_settings.get("LLM_BACKENDS", {})
    for alias, config in backends.items() if isinstance(backends, dict) else ():
        try:
            backend_class = import_string(config["BACKEND"])
        except (ImportError, KeyError, TypeError):
            continue  # reported by E007
        if isinstance(backend_class, type) and issubclass(
            backend_class, MockBackend | FunctionBackend
        ):
            messages.append(
                checks.Warning(
                    f"LLM backend {alias!r} is {backend_class.__name__}, a test double: its "
                    "replies are queued or computed, not written by a model.",
                    hint="Configure a provider backend (AnthropicBackend, OpenAIBackend, "
                    "GeminiBackend) for production.",
                    id=W003_MOCK_LLM,
                )
            )
    return messages


@checks.register(checks.Tags.compatibility, deploy=True)
def check_llm_backends_usable(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Build every configured LLM backend once, as the first request would.

    A provider backend without its SDK extra or its API key passes the ordinary
    checks and fails on the first request; here it is found before deploying.
    Building one creates the SDK's client object but sends nothing.
    """
    from django.core.exceptions import ImproperlyConfigured

    from ..core.exceptions import LLMConfigurationError
    from ..services.llm import build_backend

    messages: list[checks.CheckMessage] = []
    backends = agentic_settings.user_settings.get("LLM_BACKENDS", {})
    for alias in backends if isinstance(backends, dict) else ():
        try:
            build_backend(alias)
        except ImproperlyConfigured:
            continue  # reported by E007
        except LLMConfigurationError as exc:
            messages.append(
                checks.Warning(
                    f"LLM backend {alias!r} cannot be built: {exc}",
                    hint="Install the provider's extra and set its API key where the web "
                    "and worker processes run; until then its requests answer 500 "
                    "'LLM provider unavailable'.",
                    id=W011_LLM_BACKEND_UNUSABLE,
                )
            )
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_public_llm_endpoints(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Anyone may call an LLM-backed endpoint without a login or a throttle: a bill.

    An endpoint reaches an LLM when it generates code, runs tools, injects an
    ``LLMBackend``, or when intents are parsed by one (``INTENT_PARSER_LLM``).
    "Public" means a permission class list that is empty or holds ``AllowAny``.
    """
    from rest_framework.permissions import AllowAny

    from ..api.policies import policy_classes
    from ..registry import agents

    parser_llm = agentic_settings.INTENT_PARSER_LLM is not None
    messages: list[checks.CheckMessage] = []
    for endpoint in agents:
        plan = endpoint.injection_plan
        uses_llm = (
            parser_llm
            or endpoint.engine in ("codegen", "loop")
            or (plan is not None and "llm" in plan.uses)
        )
        if not uses_llm:
            continue
        permissions = policy_classes("permission", endpoint.permission_classes)
        public = not permissions or any(
            isinstance(cls, type) and issubclass(cls, AllowAny) for cls in permissions
        )
        if public and not policy_classes("throttle", endpoint.throttle_classes):
            messages.append(
                checks.Warning(
                    f"Endpoint {endpoint.name!r} calls an LLM, answers anonymous callers and "
                    "has no throttle: anyone can run up its provider bill.",
                    hint="Require a login (remove AllowAny), or add throttle_classes (e.g. "
                    "AnonRateThrottle) and a budget (BudgetPolicy).",
                    id=W012_PUBLIC_LLM_ENDPOINT_UNTHROTTLED,
                )
            )
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_sandbox_network(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Generated code whose sandbox cannot take the network away can reach the network.

    The built-in sandboxes isolate the network when the kernel lets their process
    create a network namespace, which depends on the machine, the user and the
    container's security profile; nothing short of asking the kernel tells. So
    this starts one runner process (it runs no code), reads what it was granted,
    and stops it. Sandboxes of other classes are not probed.
    """
    runner_based = list(runner_sandboxes())
    # Every built-in sandbox starts the same runner: one probe answers for all of them.
    if not runner_based or runner_isolates_network():
        return []
    return [
        checks.Warning(
            f"Sandbox {alias!r} cannot isolate the network on this machine: generated code "
            "could open network connections.",
            hint="Let the sandbox's process create a network namespace: allow unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces; "
            "AppArmor's restrict_unprivileged_userns) or the container's unshare system call. "
            "Otherwise deny outbound connections from the machine or container running it.",
            id=W004_SANDBOX_NETWORK,
        )
        for alias in runner_based
    ]


def runner_isolates_network() -> bool:
    """Whether a sandbox runner started now gets its own, empty network namespace."""
    from ..harness.sandbox.channel import RunnerProcess

    process = RunnerProcess(once=True)
    try:
        process.start()
        return bool(process.info.get("network_namespace"))
    except Exception:
        # A runner that cannot start isolates nothing; executions will fail loudly.
        return False
    finally:
        process.close()


def runner_sandboxes() -> dict[str, tuple[str, ...]]:
    """Aliases of built-in (runner-based) sandboxes used by codegen endpoints → ``disable``."""
    from django.utils.module_loading import import_string

    from ..harness import ForkServerSandbox, SubprocessSandbox
    from ..registry import agents

    configured = agentic_settings.SANDBOX if isinstance(agentic_settings.SANDBOX, dict) else {}
    used = sorted({endpoint.sandbox for endpoint in agents if endpoint.codegen})
    found: dict[str, tuple[str, ...]] = {}
    for alias in used:
        try:
            backend = import_string(configured[alias]["BACKEND"])
        except (ImportError, KeyError, TypeError):
            continue  # reported by E008
        if isinstance(backend, type) and issubclass(backend, ForkServerSandbox | SubprocessSandbox):
            options = configured[alias].get("OPTIONS") or {}
            found[alias] = tuple(options.get("disable", ()))
    return found


def sandbox_isolation(disable: tuple[str, ...] = ()) -> Any:
    """The :class:`SandboxIsolation` a built-in sandbox gets here, from one real execution.

    Namespaces, seccomp, chroot and the privilege drop depend on the kernel, the user
    and the container's security profile: only running a (trivial) program tells.
    None when the runner cannot run at all.
    """
    from asgiref.sync import async_to_sync

    from ..harness import SubprocessSandbox

    try:
        executed = async_to_sync(SubprocessSandbox(disable=disable).execute)("result = 1")
    except Exception:
        return None
    return executed.isolation


@checks.register(checks.Tags.security, deploy=True)
def check_sandbox_isolation(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A sandbox missing a protection contains less than docs/security.md promises.

    Probes each distinct configuration once (one short-lived runner, one trivial program).
    """
    messages: list[checks.CheckMessage] = []
    probes: dict[tuple[str, ...], Any] = {}
    for alias, disable in runner_sandboxes().items():
        if disable not in probes:
            probes[disable] = sandbox_isolation(disable)
        isolation = probes[disable]
        missing = ["everything (the runner does not start)"] if isolation is None else []
        missing = missing or isolation.missing()
        if missing:
            messages.append(
                checks.Warning(
                    f"Sandbox {alias!r} runs generated code without: {', '.join(missing)}.",
                    hint="Start the service as root, or allow user namespaces and the unshare "
                    "system call to it; install libseccomp2 and the 'sandbox' extra. See "
                    "docs/security.md for what each missing protection leaves open.",
                    id=W009_SANDBOX_DEGRADED,
                )
            )
    return messages


@checks.register(checks.Tags.compatibility, deploy=True)
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Without a shared channel layer, every process but the run's own reads the database."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    config = getattr(settings, "CHANNEL_LAYERS", {}).get("default")
    if config:
        try:
            layer_class = import_string(config["BACKEND"])
        except (ImportError, KeyError, TypeError):
            return []  # Channels raises InvalidChannelLayerError on first use
        from channels.layers import InMemoryChannelLayer

        if not (isinstance(layer_class, type) and issubclass(layer_class, InMemoryChannelLayer)):
            return []
    where = (
        "Celery workers carry out approved actions in their own processes"
        if agentic_settings.TASK_RUNNER == "celery"
        else "this is only right for a single server process"
    )
    return [
        checks.Warning(
            "The channel layer is "
            + ("in-memory" if config else "not configured")
            + f", so it does not cross processes: {where}.",
            hint="Streams followed from another process, approvals decided in another "
            "process (admin, a worker) and their live events then fall back to polling the "
            "database every STREAM_POLL_SECONDS; 1,000 idle followers cost a full CPU core "
            "(measured). Use channels_redis.core.RedisChannelLayer.",
            id=W005_PROCESS_LOCAL_CHANNEL_LAYER,
        )
    ]
