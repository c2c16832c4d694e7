"""`GET /v0/alerts`: the record shape, newest first, `active`, `after` (the pages' poller), `limit`, the
reader's language, and 400s naming the bad parameter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.database import Node, utcnow
from app.extensions import db
from app.services.observability import alerts
from app.services.observability.rollups import MINUTE, bucket_start
from tests.support.factories import add_rollup
from tests.support.rows import add_node


@pytest.fixture
def raised(app) -> dict[str, int]:
    """Three alerts, oldest first: node "a" offline (then back: resolved), a failed error rate, node "b"
    offline. Returns their ids by subject."""
    with app.app_context():
        node_a = add_node("a", online=False)
        alerts.evaluate()
        now = utcnow()
        add_rollup(bucket_start(now, MINUTE) - timedelta(minutes=1), requests=10, errors=5)
        alerts.evaluate(now)
        add_node("b", online=False)
        db.session.get(Node, node_a.id).online = True
        db.session.commit()
        alerts.evaluate(now)
        return {item["subject"] or item["kind"]: item["id"] for item in alerts.listing({})}


def test_alerts_newest_first_with_their_record(client, raised):
    response = client.get("/v0/alerts")
    assert response.status_code == 200
    listed = response.get_json()["alerts"]
    assert [item["subject"] or item["kind"] for item in listed] == ["b", "error_rate", "a"]
    newest = listed[0]
    assert set(newest) == {"id", "kind", "subject", "message", "raised_at", "resolved_at", "details"}
    assert (newest["kind"], newest["message"], newest["resolved_at"]) == ("node_offline", "Node b is offline.", None)
    assert newest["raised_at"].endswith("+00:00")
    assert listed[1]["message"] == "50% of requests failed in the last 5 minutes (5 of 10); the alert threshold is 20%."
    assert listed[1]["details"]["rate"] == 0.5
    assert listed[2]["resolved_at"] is not None


def test_active_after_and_limit(client, raised):
    def subjects(query: str) -> list[str]:
        response = client.get(f"/v0/alerts?{query}")
        assert response.status_code == 200, response.get_json()
        return [item["subject"] or item["kind"] for item in response.get_json()["alerts"]]

    assert subjects("active=1") == ["b", "error_rate"]
    assert subjects("active=0") == ["b", "error_rate", "a"]
    assert subjects(f"after={raised['a']}") == ["b", "error_rate"]  # what the poller asks: only later ones
    assert subjects(f"after={raised['b']}") == []
    assert subjects("limit=1") == ["b"]
    assert subjects(f"active=1&after={raised['error_rate']}&limit=200") == ["b"]


def test_messages_in_the_readers_language(client, raised):
    client.set_cookie("lang", "ja")
    listed = client.get("/v0/alerts?limit=1").get_json()["alerts"]
    assert listed[0]["message"] == "ノード b がオフラインになりました。"


@pytest.mark.parametrize("query, param", [("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"),
                                          ("after=-1", "after"), ("after=1.5", "after"), ("active=yes", "active")])
def test_bad_parameters_are_400_naming_them(client, query, param):
    response = client.get(f"/v0/alerts?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, "invalid_filter", "invalid_request_error")
    assert param in error["message"]
