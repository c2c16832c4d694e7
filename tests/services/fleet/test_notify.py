"""Telling nodes to sync now (app/services/fleet/notify.py), against real servers on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from app.services.fleet import notify
from tests.support.rows import add_node
from tests.support.status_node import StatusNode


@pytest.fixture
def servers() -> Iterator[Callable[[], StatusNode]]:
    started: list[StatusNode] = []

    def start() -> StatusNode:
        started.append(StatusNode())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def notify_and_wait() -> None:
    """`notify_all`, then wait (bounded) for its background thread to finish sending."""
    notify.notify_all()
    for thread in threading.enumerate():
        if thread.name == "notify-nodes":
            thread.join(15)
            assert not thread.is_alive(), "the notifications did not finish"


def test_online_nodes_only_are_told_to_sync(app, servers):
    online, offline = servers(), servers()
    with app.app_context():
        node = add_node("online", url=online.url)
        add_node("offline", url=offline.url, online=False)
        notify_and_wait()
        token = node.token
    assert [(verb, path) for verb, path, _headers in online.requests] == [("POST", "/v0/sync")]
    assert online.calls("POST")[0]["Authorization"] == f"Bearer {token}"
    assert offline.requests == []


def test_an_unreachable_node_delays_no_other(app, servers):
    gone, alive = servers(), servers()
    with app.app_context():
        add_node("gone", url=gone.url)
        add_node("alive", url=alive.url)
        gone.stop()
        notify_and_wait()
    assert len(alive.calls("POST")) == 1


def test_a_redirect_is_not_followed(app, servers):
    node, elsewhere = servers(), servers()
    node.status_code, node.headers = 307, {"Location": f"{elsewhere.url}/v0/sync"}
    with app.app_context():
        add_node("box", url=node.url)
        notify_and_wait()
    assert len(node.calls("POST")) == 1
    assert elsewhere.requests == []


def test_without_online_nodes_nothing_is_sent(app, servers):
    offline = servers()
    with app.app_context():
        add_node("offline", url=offline.url, online=False)
        notify_and_wait()
    assert offline.requests == []
