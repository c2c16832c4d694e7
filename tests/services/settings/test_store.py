"""The settings in force (app/services/settings/store.py): the environment over the database over the default,
secrets sealed at rest, and a change made by one process applied by another (two app objects on one instance
folder and database are two gunicorn workers)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock
from sqlalchemy import select, update

from app import create_app
from app.database import Setting, SettingsVersion
from app.errors import ApiError
from app.extensions import db
from app.services.settings.definitions import BY_NAME
from app.services.settings.secret_box import SecretBox
from app.services.settings.store import bootstrap, fixed_by_environment
from tests.support.factories import router_config
from tests.support.json_server import JsonServer

KEY = "sk-proj-settings-test-0123456789abcdefWXYZ"


@pytest.fixture
def workers(tmp_path: Path, hub) -> Iterator[tuple]:
    """Two "workers" of one router; the second checks for changes at every request."""
    first = create_app(router_config(tmp_path, hub.url))
    second = create_app(router_config(tmp_path, hub.url, SETTINGS_CHECK_SECONDS=0.0))
    yield first, second
    for app in (first, second):
        app.extensions["history"].close()
        app.extensions["hub_stats"].close()
        app.extensions["providers"].close()


def save(app, **changes) -> list[str]:
    with app.test_request_context():
        return app.extensions["settings"].save(changes, "tests")


def described(app, name: str) -> dict:
    with app.test_request_context():
        return next(item for item in app.extensions["settings"].describe() if item["name"] == name)


def refresh(app) -> bool:
    with app.app_context():
        return app.extensions["settings"].refresh()


def test_the_database_over_the_default_and_null_back_to_the_default(workers):
    app, _other = workers
    assert app.config["UI_POLL_SECONDS"] == 10 and described(app, "ui_poll_seconds")["source"] == "default"
    save(app, ui_poll_seconds=3, request_history_days="2.5")
    assert (app.config["UI_POLL_SECONDS"], app.config["REQUEST_HISTORY_DAYS"]) == (3, 2.5)
    assert described(app, "ui_poll_seconds") | {"value": 3, "source": "database", "read_only": False} \
        == described(app, "ui_poll_seconds")
    save(app, ui_poll_seconds=None)
    assert app.config["UI_POLL_SECONDS"] == 10 and described(app, "ui_poll_seconds")["source"] == "default"
    assert app.config["REQUEST_HISTORY_DAYS"] == 2.5


def test_the_environment_over_the_database(tmp_path, hub, monkeypatch, workers):
    first, _second = workers
    save(first, ui_poll_seconds=3, alert_error_rate=0.4)
    monkeypatch.setenv("LLM_ROUTER_UI_POLL_SECONDS", "30")
    pinned = create_app(router_config(tmp_path, hub.url))  # a worker of a router started with the variable
    try:
        assert pinned.config["UI_POLL_SECONDS"] == 30
        assert pinned.config["ALERT_ERROR_RATE"] == 0.4  # not set in the environment: the stored value
        item = described(pinned, "ui_poll_seconds")
        assert (item["value"], item["source"], item["read_only"]) == (30, "environment", True)
        with pytest.raises(ApiError) as refused:
            save(pinned, ui_poll_seconds=5)
        assert (refused.value.status, refused.value.param) == (400, "ui_poll_seconds")
        assert "LLM_ROUTER_UI_POLL_SECONDS" in refused.value.message
        save(first, ui_poll_seconds=7)
        assert refresh(pinned) and pinned.config["UI_POLL_SECONDS"] == 30
    finally:
        pinned.extensions["history"].close()
        pinned.extensions["hub_stats"].close()


def test_what_counts_as_set_by_the_environment():
    environ = {"LLM_ROUTER_UI_POLL_SECONDS": "5", "OPENAI_API_KEY": "", "LLM_ROUTER_ALERT_ERROR_RATE": "0.3"}
    fixed = fixed_by_environment(environ, {"ALERT_ERROR_RATE": None, "REQUEST_HISTORY_DAYS": 3.0})
    # empty is unset; create_app's explicit config stands for the environment (None: unset)
    assert fixed == {"ui_poll_seconds", "request_history_days"}


def test_a_secret_is_sealed_at_rest(workers, tmp_path):
    app, _other = workers
    save(app, openai_api_key=KEY, alert_webhook_url="https://hooks.example/services/T000/B000/secrettoken")
    with app.app_context():
        stored = dict(db.session.execute(select(Setting.name, Setting.value)).all())
    assert KEY not in stored["openai_api_key"] and "WXYZ" not in stored["openai_api_key"]
    assert "secrettoken" not in stored["alert_webhook_url"] and "hooks.example" not in stored["alert_webhook_url"]
    for path in (tmp_path / "instance").rglob("*"):  # the database file, its WAL, the logs
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert app.config["OPENAI_API_KEY"] == KEY and app.extensions["providers"].configured() == ["openai"]
    item = described(app, "openai_api_key")
    assert (item["value"], item["is_set"], item["hint"]) == (None, True, "••••WXYZ")


def test_a_change_in_one_worker_is_applied_by_the_other(workers):
    first, second = workers
    assert not refresh(second)  # nothing changed since it started
    save(first, openai_api_key=KEY, openai_base_url="http://127.0.0.1:9/v1", request_history_max_body_bytes=1000)
    client = second.test_client()
    client.get("/login")  # any request: the second worker checks the version before answering it
    assert second.config["OPENAI_API_KEY"] == KEY and second.config["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert second.extensions["providers"].configured() == ["openai"]
    assert second.extensions["inference"].capture_bytes == 1000 and second.extensions["inference"].recording

    save(first, request_history_days=0, openai_api_key=None)  # a reset is a change too
    client.get("/login")
    assert second.config["OPENAI_API_KEY"] is None and second.extensions["providers"].configured() == []
    assert second.extensions["inference"].capture_bytes == 0 and not second.extensions["inference"].recording


def test_a_change_is_logged_by_name_never_by_value(workers, caplog):
    first, second = workers
    with caplog.at_level(logging.INFO, logger="app.services.settings.store"):
        save(first, openai_api_key=KEY)
        refresh(second)
    assert "settings changed by tests: openai_api_key" in caplog.text
    assert caplog.text.count("settings applied in process") == 2  # each worker says it applied the change
    assert KEY not in caplog.text and "WXYZ" not in caplog.text


def test_a_secret_sealed_under_another_instance_secret_is_unset_and_logged_once(workers, caplog):
    first, second = workers
    with first.app_context():
        db.session.add(Setting(name="anthropic_api_key", value=json.dumps(SecretBox("another instance").seal(KEY)),
                               updated_by="tests"))
        db.session.add(Setting(name="a_setting_of_a_newer_router", value="1", updated_by="tests"))
        db.session.execute(update(SettingsVersion).values(version=SettingsVersion.version + 1))
        db.session.commit()
    with caplog.at_level(logging.WARNING, logger="app.services.settings.store"):
        assert refresh(second)
        for seconds in (4, 5):  # two more changes, each reloaded by both workers
            save(first, ui_poll_seconds=seconds)
            assert refresh(second) and second.config["UI_POLL_SECONDS"] == seconds
    assert second.config["ANTHROPIC_API_KEY"] is None and second.extensions["providers"].configured() == []
    item = described(second, "anthropic_api_key")
    assert (item["is_set"], item["source"]) == (False, "default")
    unreadable = [record for record in caplog.records if "cannot be decrypted" in record.getMessage()]
    assert len(unreadable) == 2  # once per worker, however often it reloads
    assert all("anthropic_api_key" in record.getMessage() for record in unreadable)
    assert KEY not in caplog.text


def test_nothing_is_stored_when_one_change_is_refused(workers):
    app, _other = workers
    with pytest.raises(ApiError) as refused:
        save(app, ui_poll_seconds=5, alert_error_rate=3)
    assert refused.value.param == "alert_error_rate"
    with app.app_context():
        assert db.session.scalars(select(Setting.name)).all() == []
        assert db.session.scalar(select(SettingsVersion.version)) == 0
    assert app.config["UI_POLL_SECONDS"] == 10


def test_price_overrides_reach_the_price_book(workers):
    app, _other = workers
    entry = {"provider": "openai", "model": "gpt-settings-test", "input": 2, "cached_input": None,
             "cache_write": None, "output": 8, "as_of": "2026-11-01", "source": "https://openai.com/api/pricing"}
    save(app, price_overrides=[entry])
    assert app.config["PRICE_OVERRIDES"] == [entry]
    assert ("openai", "gpt-settings-test") in app.extensions["prices"].table()
    save(app, price_overrides=None)
    assert ("openai", "gpt-settings-test") not in app.extensions["prices"].table()


def test_the_leaders_alert_webhook_follows_the_setting(workers):
    app, _other = workers
    hook = JsonServer({"POST": lambda request: (200, {"ok": True})}).start()
    lock = FileLock(str(Path(app.instance_path) / "scheduler.lock"))
    lock.acquire()
    app.extensions["scheduler_lock"] = lock  # this process is the leader, as the scheduler makes one
    try:
        save(app, alert_webhook_url=f"{hook.url}/hook/token")
        app.extensions["alert_webhook"].send("Node n1 is offline.")
        deadline = time.monotonic() + 10
        while not hook.calls("POST"):
            assert time.monotonic() < deadline, "the webhook was not called"
            time.sleep(0.05)
        assert hook.calls("POST")[0].path == "/hook/token"
        app.extensions["alert_webhook"].close()
        save(app, alert_webhook_url=None)
        assert "alert_webhook" not in app.extensions
    finally:
        app.extensions.pop("scheduler_lock").release()
        hook.stop()


def test_bootstrap_settings_never_show_a_password_or_a_secret(workers):
    app, _other = workers
    app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://router:hunter2hunter2@db.example/router"
    shown = {item["name"]: item["value"] for item in bootstrap(app)}
    assert "hunter2" not in shown["database_url"] and "db.example/router" in shown["database_url"]
    assert shown["secret_key"] == "set" and shown["jwt_secret"] == "set"
    assert app.config["SECRET_KEY"] not in json.dumps(shown) and app.config["JWT_SECRET"] not in json.dumps(shown)
    assert set(shown) == {"database_url", "instance_path", "listen_address", "secret_key", "jwt_secret"}
    assert BY_NAME  # the editable ones are the table's; bootstrap ones are not among them
    assert not set(shown) & set(BY_NAME)
