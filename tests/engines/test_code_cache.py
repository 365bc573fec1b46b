"""The code cache over HTTP: scopes, sharing, expiry, eviction and what gets stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.permissions import AllowAny

from agentic_django.harness import CodePolicy
from agentic_django.models import CodeCacheEntry, ExecutionTrace

from .conftest import program_reply

pytestmark = pytest.mark.django_db

CUSTOMERS = [
    {"email": "alice@example.com", "total": 10.5, "vip": True},
    {"email": "bob@example.com", "total": 4.5, "vip": False},
]


def register(site, name="customers", **options):
    @site.agent_endpoint(name, codegen=True, **options)
    async def customers(intent, context):
        """Questions about customers."""
        return {"customers": CUSTOMERS}

    return site.get(name)


@pytest.fixture(autouse=True)
def logged_in(client, user):
    """Code is cached per user: most tests ask as one signed-in user."""
    client.force_login(user)


@pytest.fixture
def configure(settings):
    def apply(**cache):
        settings.AGENTIC_DJANGO = {**settings.AGENTIC_DJANGO, "CODE_CACHE": cache}

    return apply


def ask(post, name="customers", intent="how many customers"):
    response = post(name, {"intent": intent})
    assert response.status_code == 200, response.json()
    return response


def cache_state(response):
    trace = ExecutionTrace.objects.get(trace_id=response.json()["execution_trace_id"])
    return trace.harness_report["code_cache"]


def test_one_users_cached_code_is_never_served_to_another(
    site, post, mock_llm, client, user, other_user
):
    register(site)
    mock_llm.add_structured_response(program_reply("result = 'code for alice'"))
    mock_llm.add_structured_response(program_reply("result = 'code for bob'"))

    client.force_login(user)
    assert ask(post).json()["result"] == "code for alice"
    client.force_login(other_user)
    second = ask(post)
    # Same question, same key material but the scope: bob gets his own LLM call.
    assert second.json()["result"] == "code for bob"
    assert cache_state(second) == "miss"
    assert mock_llm.call_count == 2

    client.force_login(user)
    third = ask(post)
    assert third.json()["result"] == "code for alice"
    assert cache_state(third) == "hit"
    client.force_login(other_user)
    fourth = ask(post)
    assert fourth.json()["result"] == "code for bob"
    assert cache_state(fourth) == "hit"
    assert mock_llm.call_count == 2

    entries = {entry.scope: entry for entry in CodeCacheEntry.objects.all()}
    assert set(entries) == {f"user:{user.pk}", f"user:{other_user.pk}"}
    assert entries[f"user:{user.pk}"].code == "result = 'code for alice'"
    assert entries[f"user:{other_user.pk}"].code == "result = 'code for bob'"
    assert {entry.hits for entry in entries.values()} == {1}
    # The keys differ as well, not only the scope column.
    assert len({entry.key for entry in entries.values()}) == 2


def test_anonymous_callers_are_never_cached(site, post, mock_llm, client, user):
    """Nothing tells two anonymous callers apart, so none of their code is shared."""
    client.logout()
    register(site, permission_classes=[AllowAny])  # anonymous callers, by explicit choice
    for reply in ("first anonymous", "second anonymous", "alice code"):
        mock_llm.add_structured_response(program_reply(f"result = {reply!r}"))
    assert ask(post).json()["result"] == "first anonymous"
    assert ask(post).json()["result"] == "second anonymous"
    assert mock_llm.call_count == 2
    assert not CodeCacheEntry.objects.exists()
    client.force_login(user)
    assert ask(post).json()["result"] == "alice code"
    assert list(CodeCacheEntry.objects.values_list("scope", flat=True)) == [f"user:{user.pk}"]


def test_shared_scope_with_schema_samples_shares_one_entry_and_shows_no_values(
    site, post, mock_llm, client, user, other_user, configure
):
    configure(SCOPE="shared")
    register(site, data_sample="schema")
    mock_llm.add_structured_response(program_reply("result = len(data['customers'])"))
    client.force_login(user)
    first = ask(post)
    client.force_login(other_user)
    second = ask(post)
    assert first.json()["result"] == second.json()["result"] == 2
    assert (cache_state(first), cache_state(second)) == ("miss", "hit")
    assert mock_llm.call_count == 1
    entry = CodeCacheEntry.objects.get()
    assert (entry.scope, entry.hits) == ("shared", 1)

    [prompt] = mock_llm.prompts
    sent = prompt.system + "\n".join(message.content for message in prompt.messages)
    for value in ("alice@example.com", "bob@example.com", "10.5", "4.5", "true", "True"):
        assert value not in sent
    sample = prompt.messages[0].content.split("<data_sample>")[1]
    for type_name in ('"str"', '"float"', '"bool"', '"list_of"'):
        assert type_name in sample


def test_values_samples_show_the_data_to_the_llm(site, post, mock_llm):
    register(site)
    mock_llm.add_structured_response(program_reply("result = 1"))
    ask(post)
    sample = mock_llm.prompts[0].messages[0].content.split("<data_sample>")[1]
    assert "alice@example.com" in sample and "10.5" in sample


def test_expired_entries_are_not_served(site, post, mock_llm, client, user):
    register(site)
    client.force_login(user)
    mock_llm.add_structured_response(program_reply("result = 'old'"))
    mock_llm.add_structured_response(program_reply("result = 'new'"))
    ask(post)
    CodeCacheEntry.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = ask(post)
    assert response.json()["result"] == "new"
    assert cache_state(response) == "miss"
    assert mock_llm.call_count == 2
    # The fresh program replaced the expired one.
    entry = CodeCacheEntry.objects.get()
    assert entry.code == "result = 'new'"
    assert entry.expires_at > timezone.now()
    assert cache_state(ask(post)) == "hit"


def test_ttl_seconds_sets_the_expiry(site, post, mock_llm, configure):
    configure(TTL_SECONDS=60)
    register(site)
    mock_llm.add_structured_response(program_reply("result = 1"))
    ask(post)
    entry = CodeCacheEntry.objects.get()
    assert entry.expires_at == entry.created_at + timedelta(seconds=60)


def test_without_a_ttl_entries_do_not_expire(site, post, mock_llm, configure):
    configure(TTL_SECONDS=None)
    register(site)
    mock_llm.add_structured_response(program_reply("result = 1"))
    ask(post)
    assert CodeCacheEntry.objects.get().expires_at is None
    assert cache_state(ask(post)) == "hit"


def test_max_entries_evicts_the_least_recently_used(site, post, mock_llm, configure):
    configure(MAX_ENTRIES=2)
    for name in ("first", "second", "third"):
        register(site, name)
    for name in ("first", "second", "third", "second"):
        mock_llm.add_structured_response(program_reply(f"result = '{name}'"))

    ask(post, "first")
    ask(post, "second")
    assert cache_state(ask(post, "first")) == "hit"  # first is now more recent than second
    ask(post, "third")
    assert sorted(CodeCacheEntry.objects.values_list("endpoint_name", flat=True)) == [
        "first",
        "third",
    ]
    assert mock_llm.call_count == 3
    # second was evicted: asking again calls the LLM, and evicts first in turn.
    response = ask(post, "second")
    assert cache_state(response) == "miss"
    assert mock_llm.call_count == 4
    assert sorted(CodeCacheEntry.objects.values_list("endpoint_name", flat=True)) == [
        "second",
        "third",
    ]


def test_code_cache_false_never_stores(site, post, mock_llm):
    register(site, code_cache=False)
    mock_llm.add_structured_response(program_reply("result = 1"))
    mock_llm.add_structured_response(program_reply("result = 2"))
    first, second = ask(post), ask(post)
    assert (first.json()["result"], second.json()["result"]) == (1, 2)
    assert cache_state(first) == cache_state(second) == "off"
    assert mock_llm.call_count == 2
    assert not CodeCacheEntry.objects.exists()


def test_a_disabled_cache_never_stores(site, post, mock_llm, configure):
    configure(ENABLED=False)
    register(site)
    mock_llm.add_structured_response(program_reply("result = 1"))
    mock_llm.add_structured_response(program_reply("result = 2"))
    first, second = ask(post), ask(post)
    assert (first.json()["result"], second.json()["result"]) == (1, 2)
    assert cache_state(second) == "off"
    assert not CodeCacheEntry.objects.exists()


def test_a_disabled_cache_does_not_serve_existing_entries(site, post, mock_llm, configure):
    register(site)
    mock_llm.add_structured_response(program_reply("result = 'cached'"))
    mock_llm.add_structured_response(program_reply("result = 'fresh'"))
    ask(post)
    configure(ENABLED=False)
    assert ask(post).json()["result"] == "fresh"


def test_changing_a_policy_setting_changes_the_key(site, post, mock_llm):
    register(site, policies=[CodePolicy(max_code_lines=50)])
    mock_llm.add_structured_response(program_reply("result = 'under 50 lines'"))
    mock_llm.add_structured_response(program_reply("result = 'under 40 lines'"))
    ask(post)
    assert cache_state(ask(post)) == "hit"

    site.unregister("customers")
    register(site, policies=[CodePolicy(max_code_lines=40)])
    response = ask(post)
    assert cache_state(response) == "miss"
    assert response.json()["result"] == "under 40 lines"
    assert CodeCacheEntry.objects.count() == 2

    # The same settings again find the first entry.
    site.unregister("customers")
    register(site, policies=[CodePolicy(max_code_lines=50)])
    response = ask(post)
    assert cache_state(response) == "hit"
    assert response.json()["result"] == "under 50 lines"


def test_a_default_policy_is_part_of_the_key(site, post, mock_llm, settings):
    register(site)
    mock_llm.add_structured_response(program_reply("result = 1"))
    mock_llm.add_structured_response(program_reply("result = 2"))
    ask(post)
    settings.AGENTIC_DJANGO = {
        **settings.AGENTIC_DJANGO,
        "DEFAULT_POLICIES": [CodePolicy(max_code_lines=10)],
    }
    assert cache_state(ask(post)) == "miss"


@pytest.mark.parametrize(
    ("program", "status"),
    [
        pytest.param("result = data['missing']", 500, id="raises"),
        pytest.param("import os\nresult = 1", 403, id="denied-by-policy"),
        pytest.param("result = {1, 2}", 500, id="result-not-json"),
    ],
)
def test_only_successful_executions_are_cached(site, post, mock_llm, program, status):
    register(site)
    mock_llm.add_structured_response(program_reply(program))
    mock_llm.add_structured_response(program_reply("result = 'retried'"))
    response = post("customers", {"intent": "how many customers"})
    assert response.status_code == status, response.json()
    assert not CodeCacheEntry.objects.exists()
    # The next identical request asks the LLM again rather than reusing the failure.
    assert ask(post).json()["result"] == "retried"
    assert mock_llm.call_count == 2
    assert CodeCacheEntry.objects.get().code == "result = 'retried'"


def test_each_endpoint_has_its_own_entries(site, post, mock_llm):
    register(site, "one")
    register(site, "two")
    mock_llm.add_structured_response(program_reply("result = 'one'"))
    mock_llm.add_structured_response(program_reply("result = 'two'"))
    assert ask(post, "one").json()["result"] == "one"
    assert ask(post, "two").json()["result"] == "two"
    assert mock_llm.call_count == 2


def test_a_hit_records_its_use(site, post, mock_llm, user, client):
    register(site)
    client.force_login(user)
    mock_llm.add_structured_response(program_reply("result = 1"))
    ask(post)
    stored = CodeCacheEntry.objects.get()
    assert (stored.hits, stored.last_hit_at) == (0, None)
    ask(post)
    ask(post)
    entry = CodeCacheEntry.objects.get()
    assert entry.hits == 2
    assert entry.last_hit_at is not None and entry.last_used_at > stored.last_used_at
    assert (entry.endpoint_name, entry.intent_action, entry.intent_domain) == (
        "customers",
        "read",
        "customer",
    )


def test_questions_that_parse_alike_do_not_share_a_program(site, post, mock_llm):
    register(site)
    mock_llm.add_structured_response(program_reply("result = len(data['customers'])"))
    mock_llm.add_structured_response(
        program_reply("result = sum(c['total'] for c in data['customers'])")
    )
    assert ask(post, intent="how many customers").json()["result"] == 2
    assert ask(post, intent="what is the total spent by customers").json()["result"] == 15.0
    assert mock_llm.call_count == 2
    # Case, spacing and end punctuation do not make a question new.
    assert ask(post, intent="  How many   customers?").json()["result"] == 2
    assert mock_llm.call_count == 2


def test_sharing_is_refused_at_run_time_when_the_llm_saw_values(
    site, post, mock_llm, configure, client, other_user
):
    configure(SCOPE="shared")
    register(site)  # data_sample="values": the system check reports it (E009), and
    for reply in ("mine", "theirs"):  # the cache keeps entries per user regardless.
        mock_llm.add_structured_response(program_reply(f"result = {reply!r}"))
    assert ask(post).json()["result"] == "mine"
    client.force_login(other_user)
    assert ask(post).json()["result"] == "theirs"
    assert not CodeCacheEntry.objects.filter(scope="shared").exists()
