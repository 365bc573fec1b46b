"""ASGI application of the test project (daphne in the integration tests)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django.core.asgi import get_asgi_application

django_app = get_asgi_application()

from agentic_django.asgi import get_application  # noqa: E402

application = get_application(django_app)
