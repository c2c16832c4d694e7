"""Alerts (app/services/observability/alerts.py): raised once per condition while it lasts, resolved when
it clears. Node and download conditions come from real polls of a node server on 127.0.0.1
(tests/support/status_node.py); request conditions from rollup rows as the history writer leaves them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import create_app
from app.config import load_config
from app.database import Alert, Node, utcnow
from app.errors import ApiError
from app.extensions import db
from app.services.fleet import polling
from app.services.observability import alerts
from app.services.observability.rollups import HOUR, MINUTE, bucket_start
from tests.support.factories import add_rollup, router_config
from tests.support.rows import add_node


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def open_keys() -> list[str]:
    return sorted(db.session.scalars(select(Alert.key).where(Alert.resolved_at.is_(None))))


def all_alerts() -> list[Alert]:
    db.session.expire_all()
    return list(db.session.scalars(select(Alert).order_by(Alert.id)))


def test_a_node_going_offline_raises_one_alert_until_it_is_back(ctx, node_server):
    node = add_node("box", url=node_server.url)
    polling.poll_all()
    assert alerts.evaluate() == []

    node_server.status_code = 500  # the node stops answering: offline after the limit of failed polls
    for _ in range(polling.OFFLINE_AFTER_FAILED_POLLS):
        polling.poll_all()
    raised = alerts.evaluate()
    assert [(alert.key, alert.kind, alert.subject) for alert in raised] == \
        [(f"node_offline:{node.id}", "node_offline", "box")]
    assert raised[0].details["node_id"] == node.id and raised[0].details["node"] == "box"
    assert alerts.english_message(raised[0]) == "Node box is offline."

    polling.poll_all()
    assert alerts.evaluate() == []  # still offline: the same alert stays open, no second one
    assert open_keys() == [f"node_offline:{node.id}"]

    node_server.status_code = 200
    polling.poll_all()
    assert alerts.evaluate() == []
    assert open_keys() == []
    [alert] = all_alerts()
    assert alert.resolved_at is not None and alert.resolved_at >= alert.raised_at

    node_server.status_code = 500  # offline again: a new alert
    for _ in range(polling.OFFLINE_AFTER_FAILED_POLLS):
        polling.poll_all()
    assert [alert.kind for alert in alerts.evaluate()] == ["node_offline"]
    assert [alert.resolved_at is None for alert in all_alerts()] == [False, True]


def test_a_failed_download_is_an_alert_until_it_no_longer_fails(ctx, node_server):
    node = add_node("box", url=node_server.url)
    node_server.report([{"id": "m1", "state": "error", "error": "disk full"},
                        {"id": "m2", "state": "downloading", "downloaded_bytes": 1, "total_bytes": 4}])
    polling.poll_all()
    [alert] = alerts.evaluate()
    assert (alert.key, alert.kind, alert.subject) == (f"download_failed:{node.id}:m1", "download_failed", "m1")
    assert alert.details == {"node_id": node.id, "node": "box", "model": "m1", "error": "disk full"}
    assert alerts.english_message(alert) == "The download of m1 failed on node box: disk full"

    node_server.report([{"id": "m1", "state": "pending"}])  # retried
    polling.poll_all()
    alerts.evaluate()
    assert open_keys() == []


def test_the_error_rate_over_five_minutes(ctx):
    now = utcnow()
    minute = bucket_start(now, MINUTE)
    add_rollup(minute, requests=6, errors=1)
    add_rollup(minute - timedelta(minutes=2), requests=4, errors=2)  # 3 of 10: 30% > 20%
    add_rollup(minute - timedelta(minutes=30), requests=100, errors=0)  # outside the window
    add_rollup(bucket_start(now, HOUR), resolution=HOUR, requests=1000, errors=0)  # hourly rows are not read
    [alert] = alerts.evaluate(now)
    assert (alert.key, alert.kind, alert.subject) == ("error_rate", "error_rate", None)
    assert alert.details == {"errors": 3, "requests": 10, "rate": 0.3, "threshold": 0.2, "minutes": 5}
    assert alerts.english_message(alert) == \
        "30% of requests failed in the last 5 minutes (3 of 10); the alert threshold is 20%."
    assert alerts.evaluate(now + timedelta(minutes=1)) == []  # still in the window: the same alert
    alerts.evaluate(now + timedelta(minutes=7))  # those minutes left the window
    assert open_keys() == []


def test_a_rate_at_the_threshold_is_no_alert_and_above_it_is(ctx):
    now = utcnow()
    add_rollup(bucket_start(now, MINUTE), requests=10, errors=2)  # exactly 20%: not above it
    assert alerts.evaluate(now) == []
    add_rollup(bucket_start(now, MINUTE) - timedelta(minutes=1), requests=4, errors=4)
    assert [alert.details["rate"] for alert in alerts.evaluate(now)] == [round(6 / 14, 4)]


def test_too_few_requests_are_no_alert(ctx):
    now = utcnow()
    add_rollup(bucket_start(now, MINUTE), requests=alerts.MIN_REQUESTS - 1, errors=alerts.MIN_REQUESTS - 1)
    assert alerts.evaluate(now) == []  # every request failed, but too few to judge


def test_the_threshold_is_configurable(tmp_path, hub):
    app = create_app(router_config(tmp_path, hub.url, ALERT_ERROR_RATE=0.5))
    try:
        with app.app_context():
            now = utcnow()
            add_rollup(bucket_start(now, MINUTE), requests=10, errors=4)
            assert alerts.evaluate(now) == []
            add_rollup(bucket_start(now, MINUTE), requests=10, errors=6)
            assert [alert.details["threshold"] for alert in alerts.evaluate(now)] == [0.5]
    finally:
        app.extensions["hub_stats"].close()
        app.extensions["history"].close()


def test_refused_requests_raise_the_queue_alert(ctx):
    now = utcnow()
    add_rollup(bucket_start(now, MINUTE) - timedelta(minutes=1), requests=3, refused=2)
    [alert] = alerts.evaluate(now)
    assert (alert.key, alert.details) == ("queue_refused", {"refused": 2, "minutes": 5})
    assert alerts.english_message(alert) == "The queue turned away 2 requests in the last 5 minutes."
    assert alerts.message("queue_refused", {"refused": 1, "minutes": 5}) == \
        "The queue turned away 1 request in the last 5 minutes."
    alerts.evaluate(now + timedelta(minutes=10))
    assert open_keys() == []


def test_messages_follow_the_reader_and_the_webhook_reads_english(app):
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        japanese = alerts.message("node_offline", {"node": "box"})
        assert japanese == "ノード box がオフラインになりました。"
        alert = Alert(kind="node_offline", details={"node": "box"})
        assert alerts.english_message(alert) == "Node box is offline."


def test_the_listing_filters_and_refuses_bad_parameters(ctx):
    first, second = add_node("a", online=False), add_node("b", online=False)
    alerts.evaluate()
    add_node("c", online=False)
    db.session.get(Node, first.id).online = True
    db.session.commit()
    alerts.evaluate()  # a is resolved, c raised
    listed = alerts.listing({})
    assert [item["subject"] for item in listed] == ["c", "b", "a"]  # newest first
    assert set(listed[0]) == {"id", "kind", "subject", "message", "raised_at", "resolved_at", "details"}
    assert listed[2]["resolved_at"] is not None and listed[0]["resolved_at"] is None
    assert [item["subject"] for item in alerts.listing({"active": "1"})] == ["c", "b"]
    assert [item["subject"] for item in alerts.listing({"after": str(listed[1]["id"])})] == ["c"]
    assert [item["subject"] for item in alerts.listing({"limit": "1"})] == ["c"]
    assert second.id in {item["details"]["node_id"] for item in listed}
    for args, param in [({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"after": "-1"}, "after"),
                        ({"after": "x"}, "after"), ({"active": "maybe"}, "active")]:
        with pytest.raises(ApiError) as refused:
            alerts.listing(args)
        assert (refused.value.status, refused.value.param) == (400, param)


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "20%"])
def test_a_threshold_that_is_not_a_fraction_stops_the_start(raw):
    with pytest.raises(ValueError, match="LLM_ROUTER_ALERT_ERROR_RATE"):
        load_config({"LLM_ROUTER_ALERT_ERROR_RATE": raw})
    assert load_config({})["ALERT_ERROR_RATE"] == 0.2
