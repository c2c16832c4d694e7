"""Polling nodes' status (app/services/fleet/polling.py) against a real HTTP server on 127.0.0.1
(tests/support/status_node.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.database import Node, NodeSample
from app.extensions import db
from app.services.fleet import polling
from app.services.fleet.reports import reports
from app.services.fleet.status import MAX_STATUS_BYTES
from tests.support.rows import add_node
from tests.support.status_node import StatusNode, status


@pytest.fixture
def node(app, node_server):
    """The server registered as node "box"; the test runs inside an app context."""
    with app.app_context():
        yield add_node("box", url=node_server.url)


def fresh(node: Node) -> Node:
    db.session.expire_all()
    return db.session.get(Node, node.id)


def test_a_poll_stores_reports_figures_and_a_sample(node, node_server):
    node_server.body = status(version="0.2.0", active_requests=3, loaded_models=["m1", 7],
                              models=[{"id": "m1", "state": "ready"},
                                      {"id": "m2", "state": "downloading", "downloaded_bytes": 1, "total_bytes": 4}],
                              metrics={"cpu_percent": 150, "memory_used_bytes": 5, "gpus": [], "fans": 3})
    polling.poll_all()
    polled = fresh(node)
    assert (polled.online, polled.failed_polls, polled.last_error, polled.version) == (True, 0, None, "0.2.0")
    assert (polled.active_requests, polled.loaded_models) == (3, ["m1"])
    assert polled.metrics == {"cpu_percent": 100, "memory_used_bytes": 5, "gpus": []}
    assert [(r.model_id, r.state, r.downloaded_bytes) for r in reports(node_id=node.id)] == \
        [("m1", "ready", 0), ("m2", "downloading", 1)]
    samples = db.session.execute(select(NodeSample.online, NodeSample.active_requests)
                                 .where(NodeSample.node_id == node.id))
    assert [tuple(sample) for sample in samples] == [(True, 3)]
    assert node_server.calls("GET")[0]["Authorization"] == f"Bearer {polled.token}"
    assert [path for _verb, path, _headers in node_server.requests] == ["/v0/status"]

    node_server.report([{"id": "m2", "state": "ready"}])  # the next poll replaces the reports
    polling.poll_all()
    assert [(r.model_id, r.state) for r in reports(node_id=node.id)] == [("m2", "ready")]


def test_a_node_that_stops_answering_goes_offline_after_the_limit(node, node_server):
    polling.poll_all()
    node_server.stop()
    for attempt in range(1, polling.OFFLINE_AFTER_FAILED_POLLS + 1):
        polling.poll_all()
        polled = fresh(node)
        assert (polled.failed_polls, polled.last_error) == (attempt, polling.UNREACHABLE)
        assert polled.online is (attempt < polling.OFFLINE_AFTER_FAILED_POLLS)
    samples = db.session.scalars(select(NodeSample.online).where(NodeSample.node_id == node.id)
                                 .order_by(NodeSample.id))
    assert list(samples) == [True, True, True, False]


def test_a_node_that_answers_again_is_online_again(node, node_server):
    node_server.status_code = 500
    for _ in range(polling.OFFLINE_AFTER_FAILED_POLLS):
        polling.poll_all()
    assert fresh(node).online is False
    node_server.status_code = 200
    polling.poll_all()
    polled = fresh(node)
    assert (polled.online, polled.failed_polls, polled.last_error) == (True, 0, None)


@pytest.mark.parametrize("body", [
    status(models=[{"id": "m1", "state": "loaded"}]),
    status(models="m1"),
    status(active_requests=-1),
    status(models=[{"id": "m1", "state": "ready", "total_bytes": "big"}]),
])
def test_a_malformed_status_changes_nothing_but_the_error(node, node_server, body):
    node_server.report([{"id": "m1", "state": "ready"}])
    polling.poll_all()
    node_server.body = body
    polling.poll_all()
    polled = fresh(node)
    assert (polled.last_error, polled.failed_polls, polled.online) == (polling.MALFORMED, 1, True)
    assert [(r.model_id, r.state) for r in reports(node_id=node.id)] == [("m1", "ready")]  # kept as it was


@pytest.mark.parametrize("answer", [
    {"status_code": 302, "headers": {"Location": "/elsewhere"}},  # redirects are not followed
    {"body": b"not json"},
    {"body": b"[1, 2]"},
    {"body": b" " * (MAX_STATUS_BYTES + 1)},
])
def test_unusable_answers_are_unreachable(node, node_server, answer):
    for name, value in answer.items():
        setattr(node_server, name, value)
    polling.poll_all()
    assert fresh(node).last_error == polling.UNREACHABLE
    assert [path for _verb, path, _headers in node_server.requests] == ["/v0/status"]


def test_one_bad_node_does_not_stop_the_others(app, node, node_server):
    good = StatusNode()
    try:
        good.report([{"id": "m", "state": "ready"}])
        other = add_node("other", url=good.url)
        node_server.body = b"{"
        polling.poll_all()
        assert fresh(other).last_error is None and [r.model_id for r in reports(node_id=other.id)] == ["m"]
        assert fresh(node).last_error == polling.UNREACHABLE
    finally:
        good.stop()
