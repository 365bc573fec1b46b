from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class AgenticDjangoConfig(AppConfig):
    name = "agentic_django"
    label = "agentic_django"
    verbose_name = _("Agents")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import (
            checks,  # noqa: F401  (registers the system checks)
            signals,
        )
        from .models import Agent
        from .observability.metrics import connect_receivers as connect_metrics
        from .observability.tracing import connect_receivers as connect_tracing
        from .registry import agents
        from .services.agents import create_agent_rows, forget_saved
        from .services.approval_watch import announce_change
        from .services.llm import apply_network_guard

        apply_network_guard()
        connect_metrics()
        connect_tracing()
        # Agent rows: one per registered endpoint after migrate (never here: no
        # database access in ready()), and cached settings dropped on every save.
        post_migrate.connect(create_agent_rows, sender=self, dispatch_uid="agentic-agent-rows")
        for signal in (post_save, post_delete):
            signal.connect(forget_saved, sender=Agent, dispatch_uid=f"agentic-agent-{id(signal)}")
        # Whoever follows an approval's events hears of every change.
        for signal in (
            signals.approval_decided,
            signals.approval_executed,
            signals.approval_expired,
        ):
            signal.connect(announce_change, dispatch_uid=f"agentic-watch-{id(signal)}")
        autodiscover_modules("agents", register_to=agents)
