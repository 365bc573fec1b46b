from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rest_framework.permissions import IsAdminUser

from agentic_django.conf import DEFAULTS, agentic_settings


def test_defaults_apply_when_unset():
    assert DEFAULTS["SESSION_TTL_SECONDS"] == agentic_settings.SESSION_TTL_SECONDS
    assert agentic_settings.TASK_RUNNER == "inline"


def test_override_settings_reloads_values():
    with override_settings(AGENTIC_DJANGO={"MAX_INTENT_CHARS": 12}):
        assert agentic_settings.MAX_INTENT_CHARS == 12
    assert DEFAULTS["MAX_INTENT_CHARS"] == agentic_settings.MAX_INTENT_CHARS


def test_import_strings_are_imported():
    with override_settings(
        AGENTIC_DJANGO={"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]}
    ):
        assert [IsAdminUser] == agentic_settings.DEFAULT_PERMISSION_CLASSES


def test_a_bad_import_string_is_a_clear_error():
    with (
        override_settings(AGENTIC_DJANGO={"DEFAULT_PERMISSION_CLASSES": ["nope.Missing"]}),
        pytest.raises(ImproperlyConfigured, match=r"nope\.Missing"),
    ):
        agentic_settings.DEFAULT_PERMISSION_CLASSES  # noqa: B018


def test_unknown_keys_are_attribute_errors():
    with pytest.raises(AttributeError):
        agentic_settings.NOT_A_SETTING  # noqa: B018
