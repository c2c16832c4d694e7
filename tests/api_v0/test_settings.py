"""`GET/PATCH /v0/settings` (admins): the shape, each field's check (400 naming it, nothing stored), the
environment's settings read-only, secrets never answered, `null` back to the default, and who may call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import create_app
from tests.support.factories import make_api_key, router_config

KEY = "sk-ant-api03-settings-api-test-0123456789-LAST"
ITEM_KEYS = {"name", "section", "value", "default", "source", "env_variable", "read_only", "secret", "is_set", "hint"}
BAD_VALUES = {  # one value each setting refuses
    "openai_api_key": "has spaces in it", "openai_base_url": "api.openai.com/v1", "anthropic_api_key": 42,
    "anthropic_base_url": "ftp://api.anthropic.com", "gemini_api_key": "", "gemini_base_url": True,
    "request_history_days": -1, "request_history_max_body_bytes": 1.5, "alert_error_rate": 1.5,
    "alert_webhook_url": "hooks.example/abc", "ui_poll_seconds": 0, "default_language": "fr",
    "cost_time_zone": "Europe/Atlantis", "price_overrides": [{"provider": "openai", "model": "m"}],
}


def items(answer: dict) -> dict[str, dict]:
    return {item["name"]: item for item in answer["settings"]}


def test_get_lists_every_setting_and_the_bootstrap_ones(client):
    answer = client.get("/v0/settings").get_json()
    assert set(items(answer)) == set(BAD_VALUES)
    for item in answer["settings"]:
        assert set(item) == ITEM_KEYS
        assert item["source"] == "default" and not item["read_only"]
    poll = items(answer)["ui_poll_seconds"]
    assert (poll["value"], poll["default"], poll["env_variable"], poll["section"]) == (
        10, 10, "LLM_ROUTER_UI_POLL_SECONDS", "dashboard")
    assert items(answer)["openai_api_key"] | {"value": None, "is_set": False, "secret": True, "hint": None} \
        == items(answer)["openai_api_key"]
    assert [item["name"] for item in answer["bootstrap"]] == [
        "database_url", "instance_path", "listen_address", "secret_key", "jwt_secret"]
    assert {item["name"]: item["value"] for item in answer["bootstrap"]}["secret_key"] == "set"


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_value_is_refused_naming_the_field_and_nothing_is_stored(client, name):
    before = client.get("/v0/settings").get_json()
    changes = {"ui_poll_seconds": 5, "request_history_days": 3} if name not in ("ui_poll_seconds",
                                                                              "request_history_days") else {}
    response = client.patch("/v0/settings", json={**changes, name: BAD_VALUES[name]})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["param"], error["code"], error["type"]) == (name, "invalid_setting", "invalid_request_error")
    assert error["message"]
    assert client.get("/v0/settings").get_json() == before  # not even the good ones beside it


def test_good_values_are_stored_applied_and_answered(client, app):
    response = client.patch("/v0/settings", json={"ui_poll_seconds": "4", "alert_error_rate": 0.05,
                                                  "default_language": "ja", "cost_time_zone": "Asia/Tokyo"})
    assert response.status_code == 200
    answered = items(response.get_json())
    assert (answered["ui_poll_seconds"]["value"], answered["ui_poll_seconds"]["source"]) == (4, "database")
    assert answered["alert_error_rate"]["value"] == 0.05 and answered["cost_time_zone"]["value"] == "Asia/Tokyo"
    assert items(client.get("/v0/settings").get_json()) == answered
    assert (app.config["UI_POLL_SECONDS"], app.config["COST_TIME_ZONE"]) == (4, "Asia/Tokyo")
    assert 'data-poll-seconds="4"' in client.get("/").get_data(as_text=True)  # the pages poll at the new pace


def test_the_default_language_applies_to_people_who_chose_none(client, anonymous_client):
    english = {"Accept-Language": "en"}
    assert '<html lang="en">' in anonymous_client.get("/login", headers=english).get_data(as_text=True)
    client.patch("/v0/settings", json={"default_language": "ja"})
    assert '<html lang="ja">' in anonymous_client.get("/login", headers=english).get_data(as_text=True)
    anonymous_client.set_cookie("lang", "en")  # the language switch still wins
    assert '<html lang="en">' in anonymous_client.get("/login", headers=english).get_data(as_text=True)


def test_a_secret_is_never_answered(client):
    response = client.patch("/v0/settings", json={"anthropic_api_key": KEY})
    assert response.status_code == 200 and KEY not in response.get_data(as_text=True)
    item = items(response.get_json())["anthropic_api_key"]
    assert (item["value"], item["is_set"], item["hint"], item["source"]) == (None, True, "••••LAST", "database")
    assert KEY not in client.get("/v0/settings").get_data(as_text=True)
    assert KEY not in client.get("/settings").get_data(as_text=True)
    refused = client.patch("/v0/settings", json={"anthropic_api_key": KEY + " and more"})
    assert refused.status_code == 400 and KEY not in refused.get_data(as_text=True)


def test_null_resets_to_the_default(client):
    client.patch("/v0/settings", json={"ui_poll_seconds": 30, "gemini_api_key": "AIza-settings-0123456789"})
    answered = items(client.patch("/v0/settings", json={"ui_poll_seconds": None, "gemini_api_key": None}).get_json())
    assert (answered["ui_poll_seconds"]["value"], answered["ui_poll_seconds"]["source"]) == (10, "default")
    assert (answered["gemini_api_key"]["is_set"], answered["gemini_api_key"]["source"]) == (False, "default")


@pytest.mark.parametrize("body, code, param", [
    ({"no_such_setting": 1}, "unknown_setting", "no_such_setting"),
    ({"secret_key": "mine"}, "unknown_setting", "secret_key"),  # bootstrap settings are not editable
    ([["ui_poll_seconds", 5]], "invalid_body", None),
])
def test_unknown_names_and_bodies_are_refused(client, body, code, param):
    response = client.patch("/v0/settings", json=body)
    assert response.status_code == 400
    assert (response.get_json()["error"]["code"], response.get_json()["error"]["param"]) == (code, param)


@pytest.fixture
def pinned_app(tmp_path, hub, monkeypatch) -> Iterator:
    """A router started with LLM_ROUTER_ALERT_ERROR_RATE and OPENAI_API_KEY in its environment."""
    monkeypatch.setenv("LLM_ROUTER_ALERT_ERROR_RATE", "0.5")
    application = create_app(router_config(tmp_path, hub.url, OPENAI_API_KEY="sk-from-the-environment-0123456789"))
    yield application
    application.extensions["history"].close()
    application.extensions["hub_stats"].close()


def test_a_setting_of_the_environment_is_read_only(pinned_app):
    client = pinned_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(pinned_app, ['admin'])}"
    answer = items(client.get("/v0/settings").get_json())
    assert answer["alert_error_rate"] | {"value": 0.5, "source": "environment", "read_only": True} \
        == answer["alert_error_rate"]
    assert (answer["openai_api_key"]["read_only"], answer["openai_api_key"]["value"]) == (True, None)
    for name, value in (("alert_error_rate", 0.1), ("openai_api_key", None)):
        response = client.patch("/v0/settings", json={"ui_poll_seconds": 5, name: value})
        error = response.get_json()["error"]
        assert (response.status_code, error["code"], error["param"]) == (400, "setting_read_only", name)
        assert answer[name]["env_variable"] in error["message"]
    assert items(client.get("/v0/settings").get_json()) == answer
    assert "sk-from-the-environment" not in client.get("/v0/settings").get_data(as_text=True)


def test_only_admins_may_read_or_change_settings(client, anonymous_client, app):
    assert client.post("/v0/users", json={"username": "viewer", "password": "viewer password",
                                          "role": "viewer"}).status_code == 201
    token = anonymous_client.post("/v0/auth/login", json={"username": "viewer", "password": "viewer password"}
                                  ).get_json()["token"]
    viewer = {"Authorization": f"Bearer {token}"}
    api_key = {"Authorization": f"Bearer {make_api_key(app, ['api'])}"}
    for headers, status in (({}, 401), (viewer, 403), (api_key, 403)):
        assert anonymous_client.get("/v0/settings", headers=headers).status_code == status
        changed = anonymous_client.patch("/v0/settings", headers=headers, json={"ui_poll_seconds": 5})
        assert changed.status_code == status
    assert items(client.get("/v0/settings").get_json())["ui_poll_seconds"]["value"] == 10
