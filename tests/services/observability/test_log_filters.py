"""Saved log filters (app/services/observability/log_filters.py), through the service with principals as
the API makes them: a user's own list, the stored query normalized, unique names per user, the most a user
may keep, and who may delete whose. The HTTP side (status codes, the envelope) is tests/api_v0's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from app.access import Principal
from app.database import LogFilter, User
from app.errors import ApiError
from app.extensions import db
from app.services.accounts import users
from app.services.observability import log_filters

QUERY = {"level": "warning", "match": "any",
         "conditions": [{"field": "message", "op": "regex", "value": r"gpu-\d failed"}]}
NORMALIZED = {**QUERY, "since": None, "until": None, "limit": 200}


@pytest.fixture
def context(app) -> Iterator[None]:
    with app.app_context():
        yield


def signed_in(name: str, role: str = "viewer") -> Principal:
    return Principal(kind="session", user=users.create_user(name, f"{name} password", role))


def refusal(call, *args) -> ApiError:
    with pytest.raises(ApiError) as refused:
        call(*args)
    return refused.value


def names(principal: Principal) -> list[str]:
    return [item["name"] for item in log_filters.list_filters(principal)]


def test_create_list_and_delete(context):
    viola = signed_in("viola")
    second = log_filters.create_filter(viola, {"name": "  warnings ", "query": {**QUERY, "source": "gpu-node"}})
    first = log_filters.create_filter(viola, {"name": "Errors", "query": None})
    assert set(first) == {"id", "name", "query", "created_at", "owner"} and first["owner"] == "viola"
    assert datetime.fromisoformat(first["created_at"]).utcoffset().total_seconds() == 0
    assert first["query"] == {"level": "debug", "since": None, "until": None, "match": "all", "conditions": [],
                              "limit": 200}  # defaults filled in, no source unless one was given
    assert second["name"] == "warnings" and second["query"] == {**NORMALIZED, "source": "gpu-node"}
    assert log_filters.list_filters(viola) == [first, second]  # by name
    log_filters.delete_filter(viola, first["id"])
    assert names(viola) == ["warnings"]
    missing = refusal(log_filters.delete_filter, viola, first["id"])
    assert (missing.status, missing.code) == (404, "filter_not_found")


def test_a_duplicate_name_is_refused_for_the_same_user_only(context):
    viola, victor = signed_in("viola"), signed_in("victor")
    log_filters.create_filter(viola, {"name": "errors", "query": {"level": "error"}})
    duplicate = refusal(log_filters.create_filter, viola, {"name": " errors  ", "query": {}})
    assert (duplicate.status, duplicate.code, duplicate.param) == (409, "duplicate_name", "name")
    log_filters.create_filter(victor, {"name": "errors", "query": {}})  # his own list
    assert names(viola) == names(victor) == ["errors"]
    assert [item["query"]["level"] for item in log_filters.list_filters(viola)] == ["error"]
    assert db.session.query(LogFilter).count() == 2


def test_another_users_filter_is_deleted_only_by_an_admin(context):
    viola, victor, ada = signed_in("viola"), signed_in("victor"), signed_in("ada", "admin")
    ids = [log_filters.create_filter(viola, {"name": name, "query": {}})["id"] for name in "abcd"]
    refused = refusal(log_filters.delete_filter, victor, ids[0])
    assert (refused.status, refused.code) == (403, "not_your_filter")
    log_filters.delete_filter(ada, ids[0])  # an admin user
    log_filters.delete_filter(Principal(kind="api_key", scopes=frozenset({"admin"})), ids[1])  # an admin key
    log_filters.delete_filter(Principal(kind="auth_disabled"), ids[2])  # authentication turned off
    assert names(viola) == ["d"] and names(ada) == []


@pytest.mark.parametrize("principal", [Principal(kind="api_key", scopes=frozenset({"admin"})),
                                       Principal(kind="auth_disabled")], ids=["admin key", "auth disabled"])
def test_a_caller_without_a_user_lists_none_and_saves_none(context, principal: Principal):
    log_filters.create_filter(signed_in("viola"), {"name": "mine", "query": {}})
    assert log_filters.list_filters(principal) == []
    refused = refusal(log_filters.create_filter, principal, {"name": "mine", "query": {}})
    assert (refused.status, refused.code) == (403, "user_required")


def test_a_user_keeps_at_most_the_limit(context):
    viola = signed_in("viola")
    user_id = db.session.query(User).filter_by(username="viola").one().id
    db.session.add_all(LogFilter(user_id=user_id, name=f"filter {number:03}", query={})
                       for number in range(log_filters.MAX_FILTERS_PER_USER))
    db.session.commit()
    refused = refusal(log_filters.create_filter, viola, {"name": "one more", "query": {}})
    assert (refused.status, refused.code) == (400, "too_many_filters")
    assert log_filters.create_filter(signed_in("victor"), {"name": "one more", "query": {}})  # others may
    log_filters.delete_filter(viola, log_filters.list_filters(viola)[0]["id"])
    assert log_filters.create_filter(viola, {"name": "one more", "query": {}})["name"] == "one more"

