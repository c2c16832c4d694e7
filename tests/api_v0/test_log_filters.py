"""Saved log filters: each user's own, validated like a query, unique names, deletion by owner or admin."""

from __future__ import annotations

import pytest

from app.services.accounts import users
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME

QUERY = {"source": "router", "level": "warning", "match": "any",
         "conditions": [{"field": "message", "op": "regex", "value": r"gpu-\d failed"},
                        {"field": "logger", "op": "contains", "value": "relay"}]}


@pytest.fixture
def as_user(app):
    """A test client signed in (with a token) as a user, made on first use (viewer unless admin)."""
    def client_for(name: str, role: str = "viewer"):
        if name != ADMIN_USERNAME:
            with app.app_context():
                users.create_user(name, f"{name} password", role)
        password = ADMIN_PASSWORD if name == ADMIN_USERNAME else f"{name} password"
        test_client = app.test_client()
        token = test_client.post("/v0/auth/login", json={"username": name, "password": password}).get_json()["token"]
        test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return test_client
    return client_for


def test_round_trip(as_user):
    viewer = as_user("viola")
    created = viewer.post("/v0/log-filters", json={"name": "  GPU failures ", "query": QUERY})
    assert created.status_code == 201, created.get_data(as_text=True)
    record = created.get_json()
    assert set(record) == {"id", "name", "query", "created_at", "owner"}
    assert (record["name"], record["owner"]) == ("GPU failures", "viola")
    assert record["query"] == {**QUERY, "since": None, "until": None, "limit": 200}
    listed = viewer.get("/v0/log-filters").get_json()["filters"]
    assert listed == [record]
    # The stored query runs as it is.
    assert viewer.post("/v0/logs/query", json=record["query"]).status_code == 200
    assert viewer.delete(f"/v0/log-filters/{record['id']}").status_code == 204
    assert viewer.get("/v0/log-filters").get_json()["filters"] == []


def test_names_are_unique_per_user(as_user):
    viola, victor = as_user("viola"), as_user("victor")
    assert viola.post("/v0/log-filters", json={"name": "errors", "query": {"level": "error"}}).status_code == 201
    duplicate = viola.post("/v0/log-filters", json={"name": "errors", "query": {}})
    assert duplicate.status_code == 409
    assert duplicate.get_json()["error"]["param"] == "name"
    assert victor.post("/v0/log-filters", json={"name": "errors", "query": {}}).status_code == 201  # his own
    assert [item["owner"] for item in viola.get("/v0/log-filters").get_json()["filters"]] == ["viola"]


def test_only_the_owner_or_an_admin_deletes(as_user):
    viola, victor, admin = as_user("viola"), as_user("victor"), as_user(ADMIN_USERNAME)
    first = viola.post("/v0/log-filters", json={"name": "a", "query": {}}).get_json()["id"]
    second = viola.post("/v0/log-filters", json={"name": "b", "query": {}}).get_json()["id"]
    refused = victor.delete(f"/v0/log-filters/{first}")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "not_your_filter"
    assert admin.delete(f"/v0/log-filters/{first}").status_code == 204
    assert admin.delete(f"/v0/log-filters/{first}").status_code == 404
    assert [item["id"] for item in viola.get("/v0/log-filters").get_json()["filters"]] == [second]


def test_a_key_without_a_user_has_no_filters(client, as_user):
    """An admin-scope key lists none and saves none, but may delete anyone's, as an admin may."""
    viola = as_user("viola")
    saved = viola.post("/v0/log-filters", json={"name": "a", "query": {}}).get_json()["id"]
    assert client.get("/v0/log-filters").get_json() == {"filters": []}
    refused = client.post("/v0/log-filters", json={"name": "mine", "query": {}})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "user_required"
    assert client.delete(f"/v0/log-filters/{saved}").status_code == 204


@pytest.mark.parametrize(("body", "param"), [
    ({"name": "", "query": {}}, "name"),
    ({"name": "x" * 101, "query": {}}, "name"),
    ({"name": "tab\there", "query": {}}, "name"),
    ({"query": {}}, "name"),
    ({"name": "x", "query": {"conditions": [{"field": "message", "op": "regex", "value": "(x"}]}},
     "query.conditions[0].value"),
    ({"name": "x", "query": {"limit": 0}}, "query.limit"),
    ({"name": "x", "query": "level=error"}, "query"),
    ({"name": "x", "query": {}, "owner": "someone"}, "owner"),
])
def test_invalid_filters_are_400_with_param(as_user, body: dict, param: str):
    response = as_user("viola").post("/v0/log-filters", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == param
