"""The keyword parser: the reference's keyword sets (English and Japanese), tables as a setting."""

from __future__ import annotations

import pytest
from django.core import checks

from agentic_django.core.intent import (
    DEFAULT_KEYWORDS,
    IntentAction,
    IntentParser,
    parse_with_keywords,
)


@pytest.mark.parametrize(
    ("raw", "action", "domain"),
    [
        ("注文 削除", IntentAction.WRITE, "order"),
        ("注文を削除してください", IntentAction.WRITE, "order"),
        ("顧客の一覧を表示して", IntentAction.READ, "customer"),
        ("商品の売上を分析", IntentAction.ANALYZE, "product"),
        ("支払い 処理を実行", IntentAction.EXECUTE, "payment"),
        ("show me my orders", IntentAction.READ, "order"),
        ("delete the customer", IntentAction.WRITE, "customer"),
    ],
)
async def test_keyword_mode_classifies_english_and_japanese(raw, action, domain) -> None:
    intent = await IntentParser().parse(raw)
    assert (intent.action, intent.domain) == (action, domain)
    assert intent.confidence == 0.5


def test_projects_add_their_language_through_the_tables() -> None:
    tables = DEFAULT_KEYWORDS.extended(
        {"write": ["löschen", "stornieren"], "domains": {"bestellung": "order"}}
    )
    intent = parse_with_keywords("Bestellung 42 löschen", tables=tables)
    assert (intent.action, intent.domain) == (IntentAction.WRITE, "order")
    # The defaults are untouched.
    default = parse_with_keywords("Bestellung 42 löschen")
    assert (default.action, default.domain) == (IntentAction.READ, "general")
    with pytest.raises(ValueError, match="unknown keys \\['remove'\\]"):
        DEFAULT_KEYWORDS.extended({"remove": ["x"]})


@pytest.mark.django_db
def test_the_intent_keywords_setting_reaches_the_pipeline(settings, site, client, user) -> None:
    client.force_login(user)
    seen = []

    @site.agent_endpoint("bestellungen", description="Orders in German.")
    async def bestellungen(intent):
        seen.append((intent.action.value, intent.domain))
        return None

    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "INTENT_KEYWORDS": {"write": ["stornieren"], "domains": {"bestellung": "order"}},
    }
    response = client.post(
        "/agents/bestellungen/",
        {"intent": "Bestellung 7 stornieren"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    assert seen == [("write", "order")]


def test_a_malformed_intent_keywords_setting_is_reported(settings) -> None:
    settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "INTENT_KEYWORDS": {"erase": ["x"]}}
    errors = [m for m in checks.run_checks() if m.id == "agentic_django.E002"]
    assert any("INTENT_KEYWORDS" in m.msg and "erase" in m.msg for m in errors)
