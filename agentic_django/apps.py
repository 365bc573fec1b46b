from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgenticDjangoConfig(AppConfig):
    name = "agentic_django"
    label = "agentic_django"
    verbose_name = _("Agents")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401  (registers the system checks)
        from .registry import agents
        from .services.llm import apply_network_guard

        apply_network_guard()
        autodiscover_modules("agents", register_to=agents)
