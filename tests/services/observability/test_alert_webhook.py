"""The alert webhook (app/services/observability/alert_webhook.py) against local HTTP servers
(tests/support/json_server.py): Slack's {"text"} body, one retry, a timeout, no redirects followed,
nothing waiting on it, and no token in the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from app import create_app
from app.config import load_config
from app.services.observability import alerts
from app.services.observability.alert_webhook import AlertWebhook, safe_target
from tests.support.factories import router_config
from tests.support.json_server import JsonServer, Request
from tests.support.rows import add_node

TOKEN_PATH = "/services/T000/B000/SECRET-TOKEN"


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def hook() -> Iterator[JsonServer]:
    """Answers 200 "ok", as Slack does, unless a test changes `routes`."""
    server = JsonServer({f"POST {TOKEN_PATH}": lambda request: (200, b"ok")}).start()
    yield server
    server.stop()


def texts(server: JsonServer) -> list[str]:
    return [request.json()["text"] for request in server.calls("POST")]


def test_a_raised_alert_is_posted_in_english(app, hook):
    webhook = AlertWebhook(hook.url + TOKEN_PATH)
    app.extensions["alert_webhook"] = webhook
    try:
        with app.test_request_context(headers={"Accept-Language": "ja"}):  # a Japanese reader changes nothing
            add_node("box", online=False)
            alerts.evaluate()
            alerts.evaluate()  # the same condition: not posted again
        assert wait_for(lambda: len(hook.requests) == 1)
        [request] = hook.calls("POST")
        assert request.json() == {"text": "Node box is offline."}
        assert request.headers["Content-Type"] == "application/json"
    finally:
        webhook.close()


def test_a_failed_attempt_is_retried_once(hook, caplog):
    answers = iter([(500, b"busy"), (200, b"ok"), (503, b"down"), (502, b"down"), (200, b"ok")])
    hook.routes[f"POST {TOKEN_PATH}"] = lambda request: next(answers)
    webhook = AlertWebhook(hook.url + TOKEN_PATH, retry_delay=0.01)
    caplog.set_level(logging.INFO, logger="app.services.observability.alert_webhook")
    try:
        webhook.send("first")  # 500, then 200
        webhook.send("second")  # 503, then 502: given up after one retry
        webhook.send("third")  # 200
        assert wait_for(lambda: len(hook.requests) == 5)
        assert texts(hook) == ["first", "first", "second", "second", "third"]
    finally:
        webhook.close()
    assert "SECRET-TOKEN" not in caplog.text and TOKEN_PATH not in caplog.text
    assert f"alert webhook {hook.url}: attempt 1 of 2 failed: HTTP 500" in caplog.text
    assert caplog.text.count("an alert was not delivered") == 1


def test_sending_waits_for_nothing(hook):
    """The hook answers only once the test goes on after send(); were send() to wait for the answer,
    the hook would give up waiting first, and record that it was not released."""
    release = threading.Event()
    released: list[bool] = []

    def answer(request: Request):
        released.append(release.wait(3))
        return 200, b"ok"

    hook.routes[f"POST {TOKEN_PATH}"] = answer
    webhook = AlertWebhook(hook.url + TOKEN_PATH)  # the real 5 s timeout: longer than the hook waits
    try:
        webhook.send("alert")
        release.set()
        assert wait_for(lambda: released == [True])
    finally:
        webhook.close()


def test_a_hanging_hook_times_out_and_the_next_alert_still_goes(hook):
    release = threading.Event()

    def answer(request: Request):
        if request.json()["text"] == "hang":
            release.wait(30)  # never answers within the webhook's timeout
        return 200, b"ok"

    hook.routes[f"POST {TOKEN_PATH}"] = answer
    webhook = AlertWebhook(hook.url + TOKEN_PATH, timeout=0.3, retry_delay=0.01)
    try:
        webhook.send("hang")
        webhook.send("after")
        # Timed out, retried once (timed out again), then the next alert still goes out.
        assert wait_for(lambda: texts(hook) == ["hang", "hang", "after"])
    finally:
        release.set()
        webhook.close()


def test_redirects_are_not_followed(hook, caplog):
    elsewhere = JsonServer({"POST": lambda request: (200, b"ok")}).start()
    hook.routes[f"POST {TOKEN_PATH}"] = lambda request: (307, b"", {"Location": elsewhere.url + "/steal"})
    webhook = AlertWebhook(hook.url + TOKEN_PATH, retry_delay=0.01)
    try:
        webhook.send("alert")
        assert wait_for(lambda: "an alert was not delivered" in caplog.text)
        assert len(hook.requests) == 2 and elsewhere.requests == []
        assert "a redirect, not followed" in caplog.text
    finally:
        webhook.close()
        elsewhere.stop()


def test_the_log_names_only_scheme_and_host():
    assert safe_target("https://hooks.slack.com/services/T0/B0/xyz?token=abc") == "https://hooks.slack.com"
    assert safe_target("http://user:pw@10.0.0.5:8065/hooks/abc") == "http://10.0.0.5:8065"


@pytest.mark.parametrize("url", ["hooks.slack.com/services/x", "ftp://example.com/hook", "https:///no-host"])
def test_a_webhook_url_that_is_not_http_stops_the_start(url):
    with pytest.raises(ValueError, match="LLM_ROUTER_ALERT_WEBHOOK_URL"):
        load_config({"LLM_ROUTER_ALERT_WEBHOOK_URL": url})
    assert load_config({})["ALERT_WEBHOOK_URL"] is None


def test_the_schedulers_leader_posts_alerts_to_the_configured_hook(tmp_path, hub, hook):
    """The whole path in one process: the leader's job judges the alerts and its webhook posts them."""
    app = create_app(router_config(tmp_path, hub.url, SCHEDULER_ENABLED=True, NODE_POLL_SECONDS=0.2,
                                   ALERT_WEBHOOK_URL=hook.url + TOKEN_PATH))
    try:
        with app.app_context():
            add_node("box", online=False)
        assert wait_for(lambda: texts(hook) == ["Node box is offline."])
    finally:
        app.extensions["scheduler"].shutdown(wait=True)
        if "alert_webhook" in app.extensions:
            app.extensions["alert_webhook"].close()
        app.extensions["hub_stats"].close()
        app.extensions["history"].close()
