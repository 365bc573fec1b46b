from django.apps import AppConfig
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
        from .registry import agents
        from .services.approval_watch import announce_change
        from .services.llm import apply_network_guard

        apply_network_guard()
        # Whoever follows an approval's events hears of every change.
        for signal in (
            signals.approval_decided,
            signals.approval_executed,
            signals.approval_expired,
        ):
            signal.connect(announce_change, dispatch_uid=f"agentic-watch-{id(signal)}")
        autodiscover_modules("agents", register_to=agents)
