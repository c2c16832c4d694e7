"""Node choice: fewest requests in flight, round robin on ties, a limit per node, and a bounded queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.support.inference import MODEL, add_node
from tests.support.factories import make_api_key

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Background:
    """A request sent from another thread (its own test client), its response kept."""

    def __init__(self, app, key: str, body: dict) -> None:
        self.response = None
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"

        def send() -> None:
            self.response = client.post("/v1/chat/completions", json=body)

        self.thread = threading.Thread(target=send, daemon=True)
        self.thread.start()

    def result(self):
        self.thread.join(20)
        assert not self.thread.is_alive(), "the background request did not finish"
        return self.response


def served_by(*nodes) -> list[int]:
    return [len(node.requests) for node in nodes]


def test_round_robin_between_idle_nodes(api_client, imitations):
    app, client = api_client()
    first, second = imitations("a"), imitations("b")
    add_node(app, first)
    add_node(app, second)
    order = []
    for _ in range(6):
        before = served_by(first, second)
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        after = served_by(first, second)
        order.append("a" if after[0] > before[0] else "b")
    assert order in (["a", "b"] * 3, ["b", "a"] * 3), order


def test_the_node_with_fewest_requests_in_flight_is_chosen(api_client, imitations):
    app, client = api_client()
    slow, fast = imitations("a"), imitations("b")
    add_node(app, slow)
    add_node(app, fast)
    key = make_api_key(app, ["api"])
    slow.delay = 1.0
    # Tie at first: round robin sends one request to each; the one on the slow node stays in flight.
    busy = [Background(app, key, CHAT) for _ in range(2)]
    wait_until(lambda: slow.active == 1 and len(fast.requests) == 1 and fast.active == 0, "one request on each node")
    for _ in range(4):
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert served_by(slow, fast) == [1, 5]
    assert [background.result().status_code for background in busy] == [200, 200]


def test_full_nodes_queue_then_refuse_with_429(api_client, imitations):
    app, client = api_client(NODE_MAX_CONCURRENCY=1, QUEUE_SIZE=1, QUEUE_TIMEOUT_SECONDS=20.0)
    node = imitations("node")
    add_node(app, node)
    key = make_api_key(app, ["api"])
    balancer = app.extensions["inference"].balancer
    node.delay = 0.5
    in_flight = Background(app, key, CHAT)
    wait_until(lambda: node.active == 1, "the first request to reach the node")
    queued = Background(app, key, CHAT)
    wait_until(lambda: balancer.waiting == 1, "the second request to wait in the queue")
    assert node.active == 1  # the limit holds: the queued request is not on the node yet

    refused = client.post("/v1/chat/completions", json=CHAT)
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "queue_full")
    assert refused.headers["Retry-After"] == "1"

    assert in_flight.result().status_code == 200
    queued_response = queued.result()
    assert queued_response.status_code == 200  # served once the first one left the node
    assert float(queued_response.headers["X-Router-Queue-Ms"]) > 0
    assert node.max_active == 1
    assert len(node.requests) == 2


def test_waiting_too_long_in_the_queue_is_504(api_client, imitations):
    app, client = api_client(NODE_MAX_CONCURRENCY=1, QUEUE_SIZE=4, QUEUE_TIMEOUT_SECONDS=0.3)
    node = imitations("node")
    add_node(app, node)
    key = make_api_key(app, ["api"])
    node.delay = 1.0
    in_flight = Background(app, key, CHAT)
    wait_until(lambda: node.active == 1, "the first request to reach the node")
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 504
    error = response.get_json()["error"]
    assert error["code"] == "queue_timeout"
    assert "Retry-After" in response.headers
    assert app.extensions["inference"].balancer.waiting == 0  # the timed-out request left the queue
    assert in_flight.result().status_code == 200
    assert len(node.requests) == 1


def test_no_queue_refuses_at_once(api_client, imitations):
    app, client = api_client(NODE_MAX_CONCURRENCY=1, QUEUE_SIZE=0)
    node = imitations("node")
    add_node(app, node)
    key = make_api_key(app, ["api"])
    node.delay = 0.5
    in_flight = Background(app, key, CHAT)
    wait_until(lambda: node.active == 1, "the first request to reach the node")
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 429
    assert in_flight.result().status_code == 200


def test_a_stream_holds_its_slot_until_it_ends(api_client, imitations):
    app, client = api_client(NODE_MAX_CONCURRENCY=1, QUEUE_SIZE=0)
    node = imitations("node")
    add_node(app, node)
    balancer = app.extensions["inference"].balancer
    node.tokens, node.token_interval = 3, 0.05
    stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, buffered=False)
    assert stream.status_code == 200
    assert sum(balancer.snapshot().values()) == 1
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 429
    assert b"data: [DONE]" in b"".join(stream.response)
    stream.close()
    assert balancer.snapshot() == {}
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
