from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from agentic_django.core.exceptions import PermissionDenied, ToolError
from agentic_django.llm import LLMMessage, LLMPrompt, MockBackend, ToolCall
from agentic_django.model_tools import DEFAULT_PERMISSION, ModelTool, QuerySetTool, _json_value
from agentic_django.runtime import Tool, ToolContext, ToolRegistry, run_agentic_loop

UTC = datetime.UTC
NAMES = ["carol", "amy", "erin", "ben", "dave"]  # created 30 days apart, in this order


def user_tool(**options: Any) -> ModelTool:
    config: dict[str, Any] = {
        "fields": ["id", "username", "email", "is_staff", "date_joined"],
        "filters": {
            "username": ["exact", "in", "icontains"],
            "is_staff": ["exact"],
            "date_joined": ["gte", "lt"],
            "id": ["range"],
            "last_login": ["isnull"],
            "groups__name": ["exact"],
        },
        "orderings": ["username", "date_joined"],
        "max_rows": 3,
        "permission": None,
    }
    return ModelTool(User, **(config | options))


def names(result: dict[str, Any]) -> list[str]:
    return [row["username"] for row in result["rows"]]


@pytest.fixture
def people(django_user_model: type[User]) -> dict[str, User]:
    start = datetime.datetime(2024, 1, 1, 12, tzinfo=UTC)
    created = {
        name: django_user_model.objects.create_user(
            username=name,
            email=f"{name}@example.com",
            password="pw",
            is_staff=name in ("amy", "ben"),
            date_joined=start + datetime.timedelta(days=30 * index),
        )
        for index, name in enumerate(NAMES)
    }
    Group.objects.create(name="ops").user_set.add(created["amy"], created["dave"])
    Group.objects.create(name="sales").user_set.add(created["amy"])
    return created


@pytest.fixture
def viewer(django_user_model: type[User]) -> User:
    viewer = django_user_model.objects.create_user(username="viewer", password="pw")
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    return viewer


# --- schema -------------------------------------------------------------------------------


def test_definition_is_a_strict_json_schema_typed_from_the_model_fields() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    tool = user_tool()

    definition = tool.definition
    parameters = definition["parameters"]

    assert isinstance(tool, Tool)
    assert definition["name"] == "user_search"
    assert "users" in definition["description"]
    assert tool.capabilities == frozenset({"read"})
    assert tool.requires_approval is False
    jsonschema.Draft202012Validator.check_schema(parameters)
    assert parameters["additionalProperties"] is False
    assert set(parameters["properties"]) == {"filters", "order_by", "limit", "count_only"}
    filters = parameters["properties"]["filters"]
    assert filters["additionalProperties"] is False
    assert filters["properties"] == {
        "username": {"type": "string"},
        "username__in": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": 100,
        },
        "username__icontains": {"type": "string"},
        "is_staff": {"type": "boolean"},
        "date_joined__gte": {"type": "string", "format": "date-time"},
        "date_joined__lt": {"type": "string", "format": "date-time"},
        "id__range": {
            "type": "array",
            "items": {"type": "integer"},
            "minItems": 2,
            "maxItems": 2,
        },
        "last_login__isnull": {"type": "boolean"},
        "groups__name": {"type": "string"},
    }
    assert parameters["properties"]["order_by"]["enum"] == [
        "username",
        "-username",
        "date_joined",
        "-date_joined",
    ]
    assert parameters["properties"]["limit"] == {"type": "integer", "minimum": 1, "maximum": 3}
    assert parameters["properties"]["count_only"]["type"] == "boolean"
    # The schema accepts what invoke accepts.
    jsonschema.validate({"filters": {"username__in": ["amy"]}, "limit": 3}, parameters)


def test_relations_resolve_to_the_field_they_join_on_and_options_are_omitted_when_empty() -> None:
    tool = QuerySetTool(
        "permissions",
        Permission.objects.all(),
        fields=["codename", "content_type__app_label"],
        filters={"content_type": ["exact", "in"], "content_type__app_label": ["exact"]},
        description="Permissions.",
        # Permissions are a sensitive model: exposing them is an explicit choice.
        allow_sensitive=True,
    )

    parameters = tool.definition["parameters"]

    assert tool.model is Permission
    assert tool.permission == "auth.view_permission"
    assert tool.definition["description"] == "Permissions."
    assert parameters["properties"]["filters"]["properties"]["content_type"] == {"type": "integer"}
    assert set(parameters["properties"]) == {"filters", "limit", "count_only"}
    bare = ModelTool(Group, fields=["name"], name="groups")
    assert set(bare.definition["parameters"]["properties"]) == {"limit", "count_only"}


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fields": ["username", "nope"]}, "User has no field 'nope'"),
        ({"fields": ["username__upper"]}, "'username' is not a relation"),
        ({"fields": ["groups__name"]}, "many-valued relation"),
        ({"fields": []}, "non-empty list"),
        ({"filters": {"groups__nope": ["exact"]}}, "Group has no field 'nope'"),
        ({"filters": {"username": ["regex"]}}, "unknown lookup 'regex'"),
        ({"filters": {"username": ["year"]}}, "unknown lookup 'year'"),
        ({"filters": {"is_staff": ["icontains"]}}, "needs a text field"),
        ({"filters": {"username": "exact"}}, "not a string"),
        ({"orderings": ["nope"]}, "has no field 'nope'"),
        ({"orderings": ["groups__name"]}, "many-valued relation"),
        ({"max_rows": 0}, "max_rows must be an integer >= 1"),
        ({"name": "user search"}, "must match"),
    ],
)
def test_misconfiguration_is_refused_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        user_tool(**options)


def test_queryset_callable_requires_model_and_the_queryset_must_be_usable() -> None:
    with pytest.raises(ImproperlyConfigured, match="pass model="):
        QuerySetTool("t", lambda ctx: User.objects.all(), fields=["username"])
    with pytest.raises(ImproperlyConfigured, match="QuerySet or a callable"):
        QuerySetTool("t", "select * from auth_user", model=User, fields=["username"])  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match="differs"):
        QuerySetTool("t", Group.objects.all(), model=User, fields=["name"])


@pytest.mark.parametrize(
    "options",
    [
        {"fields": ["username", "password"]},
        {"filters": {"password": ["startswith"]}},
        {"orderings": ["password"]},
        {"fields": ["auth_token__key"]},  # the last segment of a related path counts
        # A reverse relation reads the related row's key: the DRF token itself.
        {"fields": ["auth_token"]},
        {"fields": ["auth_token__created"]},
        {"filters": {"auth_token": ["exact"]}},
        {"fields": ["groups__permissions__codename"]},
        {"fields": ["logentry__object_repr"]},
    ],
)
def test_sensitive_fields_are_refused_unless_allowed(options: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"sensitive .*allow_sensitive=True"):
        user_tool(**options)

    try:
        user_tool(**options, allow_sensitive=True)
    except ImproperlyConfigured as exc:
        # Allowed, a path may still be refused for another reason (fanning out).
        assert "sensitive" not in str(exc)


@pytest.mark.parametrize(
    "field", ["password_hash", "access_token", "refresh_tokens", "api_key", "session_data", "otp"]
)
def test_sensitive_names_are_matched_by_pattern(field: str) -> None:
    from agentic_django.model_tools import SENSITIVE_FIELD_PATTERN

    assert SENSITIVE_FIELD_PATTERN.search(field)


@pytest.mark.parametrize("name", ["username", "email", "date_joined", "monkey_business"])
def test_ordinary_names_are_not_sensitive(name: str) -> None:
    from agentic_django.model_tools import SENSITIVE_FIELD_PATTERN

    assert not SENSITIVE_FIELD_PATTERN.search(name)


def test_tools_over_sensitive_models_are_refused_unless_allowed() -> None:
    from django.contrib.auth.models import Permission
    from django.contrib.sessions.models import Session
    from rest_framework.authtoken.models import Token

    for model, fields in [
        (Session, ["expire_date"]),
        (Token, ["created"]),
        (Permission, ["codename"]),
    ]:
        with pytest.raises(ImproperlyConfigured, match="credentials, sessions or permissions"):
            ModelTool(model, fields=fields)
        ModelTool(model, fields=fields, allow_sensitive=True)
    with pytest.raises(ImproperlyConfigured, match="sensitive"):
        ModelTool(Session, fields=["session_key", "session_data"])


# --- argument validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"filters": {"password": "x"}}, "Unknown filter 'password'; allowed filters: username, "),
        ({"filters": {"username__startswith": "a"}}, "allowed filters: .*username__icontains"),
        ({"filters": {"is_staff": "yes"}}, "'is_staff' expects a boolean, got str"),
        ({"filters": {"id__range": [1, "2"]}}, "'id__range' expects an integer, got str"),
        ({"filters": {"id__range": [1, 2, 3]}}, "array of 2 to 2 values"),
        ({"filters": {"username__in": "amy"}}, "array of 1 to 100 values"),
        ({"filters": {"date_joined__gte": 5}}, r"expects a string \(date-time\)"),
        ({"filters": {"date_joined__gte": "last week"}}, "'date_joined__gte': .*format"),
        ({"filters": ["username"]}, "'filters' must be an object"),
        ({"order_by": "password"}, "Invalid order_by 'password'; allowed: username, -username"),
        ({"limit": 0}, "limit must be an integer from 1 to 3"),
        ({"limit": 4}, "limit must be an integer from 1 to 3"),
        ({"limit": True}, "limit must be an integer"),
        ({"count_only": "yes"}, "count_only must be a boolean"),
        ({"sql": "select 1"}, "Unknown argument 'sql'; allowed: filters, order_by, limit"),
    ],
)
async def test_invalid_arguments_raise_tool_errors_naming_what_is_allowed(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await user_tool().invoke(arguments)


# --- queries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["amy", "ben", "carol"]),
        ({"username": "erin"}, ["erin"]),
        ({"username__in": ["ben", "dave", "zed"]}, ["ben", "dave"]),
        ({"username__icontains": "A"}, ["amy", "carol", "dave"]),
        ({"is_staff": True}, ["amy", "ben"]),
        ({"date_joined__gte": "2024-03-02", "date_joined__lt": "2024-04-30T00:00:00Z"}, ["ben"]),
        ({"last_login__isnull": False}, []),
        ({"groups__name": "ops"}, ["amy", "dave"]),
    ],
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections", "people")
async def test_filters(filters: dict[str, Any], expected: list[str]) -> None:
    result = await user_tool().invoke({"filters": filters, "order_by": "username"})

    assert names(result) == expected
    assert result["count"] == (5 if not filters else len(expected))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_rows_are_json_ready_and_ordering_limit_and_truncation_apply(
    people: dict[str, User],
) -> None:
    tool = user_tool()

    descending = await tool.invoke({"order_by": "-date_joined"})
    ascending = await tool.invoke({"order_by": "date_joined", "limit": 2})
    everyone = await tool.invoke({"filters": {"id__range": [people["amy"].pk, 10**6]}})

    assert names(descending) == ["dave", "ben", "erin"]
    assert descending == {"count": 5, "rows": descending["rows"], "truncated": True}
    assert names(ascending) == ["carol", "amy"]
    assert ascending["rows"][0] == {
        "id": people["carol"].pk,
        "username": "carol",
        "email": "carol@example.com",
        "is_staff": False,
        "date_joined": "2024-01-01T12:00:00+00:00",
    }
    json.dumps(ascending)
    assert everyone["count"] == 4
    assert len(everyone["rows"]) == 3
    exact = await tool.invoke({"filters": {"username": "amy"}})
    assert exact["count"] == 1
    assert exact["truncated"] is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections", "people")
async def test_count_only_returns_just_the_count() -> None:
    tool = user_tool()

    assert await tool.invoke({"filters": {"is_staff": True}, "count_only": True}) == {"count": 2}
    assert await tool.invoke({"filters": {"groups__name": "ops"}, "count_only": True}) == {
        "count": 2
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("people")
def test_only_the_listed_columns_and_at_most_limit_rows_are_fetched() -> None:
    tool = user_tool()

    # async_to_sync routes the async ORM back to this thread, whose queries are captured.
    with CaptureQueriesContext(connection) as queries:
        result = async_to_sync(tool.invoke)({"limit": 2, "order_by": "username"})

    assert names(result) == ["amy", "ben"]
    assert len(queries.captured_queries) == 2
    count_sql, select_sql = (q["sql"] for q in queries.captured_queries)
    assert "COUNT(" in count_sql.upper()
    assert "LIMIT 2" in select_sql.upper()
    assert "password" not in select_sql
    assert select_sql.upper().startswith("SELECT")


# --- scoping and permissions --------------------------------------------------------------


def my_groups(context: ToolContext) -> QuerySet[Group]:
    return Group.objects.filter(user=context.user)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_the_queryset_callable_scopes_rows_to_the_caller(people: dict[str, User]) -> None:
    tool = ModelTool(
        Group,
        name="my_groups",
        queryset=my_groups,
        fields=["name"],
        filters={"name": ["in"]},
        permission=None,
    )

    async def async_scope(context: ToolContext) -> QuerySet[Group]:
        return my_groups(context)

    scoped_async = QuerySetTool(
        "my_groups_async", async_scope, model=Group, fields=["name"], permission=None
    )
    everything = {"filters": {"name__in": ["ops", "sales"]}}

    amy = await tool.invoke(everything, ToolContext(user=people["amy"]))
    dave = await scoped_async.invoke({}, ToolContext(user=people["dave"]))
    carol = await tool.invoke(everything, ToolContext(user=people["carol"]))

    assert [row["name"] for row in amy["rows"]] == ["ops", "sales"]
    assert [row["name"] for row in dave["rows"]] == ["ops"]
    assert carol == {"count": 0, "rows": [], "truncated": False}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections", "people")
async def test_the_view_permission_is_required_by_default(viewer: User) -> None:
    tool = user_tool(permission=DEFAULT_PERMISSION)
    amy = await User.objects.aget(username="amy")
    superuser = await User.objects.acreate(username="root", is_superuser=True)

    assert tool.permission == "auth.view_user"
    for user in (amy, AnonymousUser(), None):
        with pytest.raises(
            PermissionDenied, match=re.escape("requires the 'auth.view_user' permission")
        ):
            await tool.invoke({"count_only": True}, ToolContext(user=user))
    with pytest.raises(PermissionDenied):
        await tool.invoke({"count_only": True})
    assert await tool.invoke({"count_only": True}, ToolContext(user=viewer)) == {"count": 7}
    assert await tool.invoke({"count_only": True}, ToolContext(user=superuser)) == {"count": 7}
    # permission=None switches the check off, even for anonymous callers.
    open_tool = user_tool(permission=None)
    assert await open_tool.invoke({"count_only": True}, ToolContext(user=AnonymousUser()))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_a_custom_permission_is_checked() -> None:
    staff_only = user_tool(permission="auth.change_user")
    viewer = await User.objects.acreate(username="v")
    await viewer.user_permissions.aadd(await Permission.objects.aget(codename="view_user"))

    with pytest.raises(PermissionDenied, match=re.escape("auth.change_user")):
        await staff_only.invoke({}, ToolContext(user=viewer))


# --- inside the agentic loop --------------------------------------------------------------

PROMPT = LLMPrompt(system="You help.", messages=[LLMMessage(role="user", content="Staff?")])


def tool_messages(messages: list[LLMMessage]) -> list[LLMMessage]:
    return [m for m in messages if m.role == "tool"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections", "people")
async def test_the_tool_result_reaches_the_model_through_the_agentic_loop(viewer: User) -> None:
    llm = MockBackend()
    arguments = {"filters": {"is_staff": True}, "order_by": "-username", "limit": 1}
    llm.add_tool_call_response(ToolCall(id="c1", name="user_search", arguments=arguments))
    llm.add_tool_call_response(
        [
            ToolCall(id="c2", name="user_search", arguments={"filters": {"password": "x"}}),
            ToolCall(id="c3", name="group_search", arguments={}),
        ]
    )
    llm.add_response("Ben and Amy are staff.")
    tools = ToolRegistry(
        [user_tool(permission=DEFAULT_PERMISSION), ModelTool(Group, fields=["name"])]
    )

    result = await run_agentic_loop(llm, tools, PROMPT, context=ToolContext(user=viewer))

    assert result.final_text == "Ben and Amy are staff."
    offered = {t["name"]: t for t in llm.prompts[0].tools or []}
    assert offered["user_search"] == tools.get("user_search").definition
    found, bad_filter, denied = tool_messages(result.messages)
    assert found.tool_call_id == "c1"
    assert found.is_error is False
    payload = json.loads(found.content)
    assert payload["count"] == 2
    assert payload["truncated"] is True
    assert [row["username"] for row in payload["rows"]] == ["ben"]
    assert bad_filter.is_error is True
    assert "Unknown filter 'password'" in json.loads(bad_filter.content)["error"]
    # The viewer may see users but not groups: reported to the model as an error, not data.
    assert denied.is_error is True
    assert "Permission denied" in json.loads(denied.content)["error"]
    assert "auth.view_group" in result.tool_calls[2].error


def test_json_values() -> None:
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    identifier = uuid.uuid4()

    assert _json_value(decimal.Decimal("12.50")) == "12.50"
    assert _json_value(identifier) == str(identifier)
    assert _json_value(moment) == "2024-05-06T07:08:09+00:00"
    assert _json_value(moment.date()) == "2024-05-06"
    assert _json_value(moment.time()) == "07:08:09"
    assert _json_value(datetime.timedelta(minutes=2)) == 120.0
    assert _json_value("x") == "x"
