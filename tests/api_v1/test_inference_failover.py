"""Failover: a node that fails before answering is cooled down and the next node is tried."""

from __future__ import annotations

import time

from tests.support.inference import MODEL, add_node

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}


def two_nodes(api_client, imitations, **settings):
    app, client = api_client(**settings)
    first, second = imitations("a"), imitations("b")
    ids = add_node(app, first), add_node(app, second)
    return app, client, first, second, ids


def test_a_500_fails_over_and_cools_the_node_down(api_client, imitations):
    app, client, broken, healthy, (broken_id, _healthy_id) = two_nodes(api_client, imitations,
                                                                      NODE_COOLDOWN_SECONDS=60.0)
    broken.mode = "fail"
    for _ in range(4):
        response = client.post("/v1/chat/completions", json=CHAT)
        assert response.status_code == 200, response.get_data(as_text=True)
    assert len(broken.requests) == 1  # tried once, then skipped while cooling down
    assert len(healthy.requests) == 4
    assert app.extensions["inference"].balancer.cooling() == [broken_id]


def test_the_cooldown_expires(api_client, imitations):
    app, client, broken, healthy, _ids = two_nodes(api_client, imitations, NODE_COOLDOWN_SECONDS=1.0)
    broken.mode = "fail"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    broken.mode = "normal"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert len(broken.requests) == 1  # still cooling down
    time.sleep(1.1)
    assert app.extensions["inference"].balancer.cooling() == []
    for _ in range(2):
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert len(broken.requests) == 2  # back in the rotation
    assert len(healthy.requests) == 3


def test_a_refused_connection_fails_over(api_client, imitations):
    _app, client, dead, healthy, _ids = two_nodes(api_client, imitations)
    dead.stop()
    for _ in range(3):
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert len(healthy.requests) == 3


def test_no_answer_before_the_read_timeout_fails_over(api_client, imitations):
    _app, client, hanging, healthy, _ids = two_nodes(api_client, imitations, NODE_READ_TIMEOUT_SECONDS=0.3)
    hanging.mode = "hang"
    for _ in range(2):
        response = client.post("/v1/chat/completions", json=CHAT)
        assert response.status_code == 200
        assert float(response.headers["X-Router-Overhead-Ms"]) < 300  # the wait for the node is not the router's
    assert hanging.outcomes() == ["hung"]  # the router closed the connection; tried once
    assert len(healthy.requests) == 2


def test_a_node_dropping_the_connection_fails_over(api_client, imitations):
    _app, client, dying, healthy, _ids = two_nodes(api_client, imitations)
    dying.mode = "die"
    assert client.post("/v1/completions", json={"model": MODEL, "prompt": "x"}).status_code == 200
    assert dying.outcomes() == ["died"]
    assert len(healthy.requests) == 1


def test_an_outdated_node_token_fails_over(api_client, imitations):
    """401 from a node means the router's token for it is stale (the node registered again)."""
    _app, client, stale, healthy, _ids = two_nodes(api_client, imitations)
    stale.token = "a-newer-token"
    for _ in range(2):
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert len(healthy.requests) == 2


def test_a_stream_fails_over_before_its_first_event(api_client, imitations):
    _app, client, dying, healthy, _ids = two_nodes(api_client, imitations)
    dying.mode, dying.die_after = "die", 0
    healthy.tokens = 3
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.count('"tok') == 3 and text.endswith("data: [DONE]\n\n")
    assert '"error"' not in text
    assert dying.outcomes() == ["died"]


def test_when_every_node_fails_the_last_5xx_is_passed_through(api_client, imitations):
    _app, client, first, second, _ids = two_nodes(api_client, imitations)
    first.mode = second.mode = "fail"
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 500
    assert response.get_json()["error"]["message"] == "The node could not answer; see its log."
    assert "X-Router-Overhead-Ms" in response.headers
    assert len(first.requests) + len(second.requests) == 2


def test_when_no_node_can_be_reached_it_is_502(api_client, imitations):
    _app, client, first, second, _ids = two_nodes(api_client, imitations)
    first.stop()
    second.stop()
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "node_unreachable")
    assert "a:" in error["message"] and "b:" in error["message"]


def test_when_no_node_answers_in_time_it_is_504(api_client, imitations):
    _app, client, first, second, _ids = two_nodes(api_client, imitations, NODE_READ_TIMEOUT_SECONDS=0.2)
    first.mode = second.mode = "hang"
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 504
    assert response.get_json()["error"]["code"] == "node_timeout"


def test_a_node_503_is_failed_over_and_passed_on_last_with_its_retry_after(api_client, imitations):
    _app, client, first, second, _ids = two_nodes(api_client, imitations)
    for node in (first, second):
        node.mode, node.reply_status, node.reply_headers = "reply", 503, {"Retry-After": "7"}
        node.reply_body = {"error": {"message": "llama.cpp cannot load on this node", "type": "server_error",
                                     "param": None, "code": "engine_unavailable"}}
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    assert response.get_json() == first.reply_body
    assert response.headers["Retry-After"] == "7"
    assert len(first.requests) == len(second.requests) == 1


def test_attempts_are_bounded(api_client, imitations):
    app, client = api_client(NODE_ATTEMPTS=2)
    nodes = [imitations(name) for name in ("a", "b", "c")]
    for node in nodes:
        add_node(app, node)
        node.mode = "fail"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 500
    assert sum(len(node.requests) for node in nodes) == 2


def test_a_lone_cooling_node_is_still_tried(api_client, imitations):
    """Cooldown never refuses a model outright: when every candidate cools down, they are tried anyway."""
    app, client = api_client(NODE_COOLDOWN_SECONDS=60.0)
    node = imitations("only")
    add_node(app, node)
    node.mode = "fail"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 500
    node.mode = "normal"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert len(node.requests) == 2
    assert app.extensions["inference"].balancer.cooling() == []  # a success ends the cooldown
