"""Forwarding: the node's answer reaches the client as it was; the node sees the client's body with
the router's credential, never the client's."""

from __future__ import annotations

import json

from tests.support.inference import MODEL, add_node

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 7}


def test_chat_answer_and_usage_pass_through(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    node.tokens = 4
    add_node(app, node)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "tok0 tok1 tok2 tok3"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert float(response.headers["X-Router-Overhead-Ms"]) >= 0
    assert float(response.headers["X-Router-Queue-Ms"]) >= 0
    [received] = node.requests
    assert (received.path, received.body) == ("/v1/chat/completions", CHAT)


def test_the_node_gets_its_token_not_the_clients_key(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    add_node(app, node)
    key = client.environ_base["HTTP_AUTHORIZATION"]
    assert client.post("/v1/chat/completions", json=CHAT, headers={"X-Api-Key": "llmr_other"}).status_code == 200
    headers = node.requests[0].headers
    assert headers["authorization"] == f"Bearer {node.token}"
    assert key not in json.dumps(headers) and "llmr_other" not in json.dumps(headers)


def test_completions_and_embeddings(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    add_node(app, node)
    completion = client.post("/v1/completions", json={"model": MODEL, "prompt": "one two"})
    assert completion.status_code == 200
    assert completion.get_json()["object"] == "text_completion"
    embedding = client.post("/v1/embeddings", json={"model": MODEL, "input": ["a b", "c"]})
    assert embedding.status_code == 200
    body = embedding.get_json()
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert "X-Router-Overhead-Ms" in embedding.headers
    assert [request.path for request in node.requests] == ["/v1/completions", "/v1/embeddings"]


def test_a_node_4xx_is_passed_through_unchanged_and_not_retried(api_client, imitations):
    app, client = api_client()
    first, second = imitations("a"), imitations("b")
    add_node(app, first)
    add_node(app, second)
    for node in (first, second):
        node.mode = "reply"
        node.reply_status = 400
        node.reply_body = {"error": {"message": "'temperature' must be at most 2.", "type": "invalid_request_error",
                                     "param": "temperature", "code": "invalid_value"}}
    response = client.post("/v1/chat/completions", json={**CHAT, "temperature": 9})
    assert response.status_code == 400
    assert response.get_json() == first.reply_body
    assert "X-Router-Overhead-Ms" in response.headers
    assert len(first.requests) + len(second.requests) == 1  # the client's mistake: no other node asked
    # ...and no cooldown: the next request may go to either node, and succeeds
    for node in (first, second):
        node.mode = "normal"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_keep_alive_connections_are_reused(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    add_node(app, node)
    for _ in range(5):
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert len(node.requests) == 5
    assert len({request.connection for request in node.requests}) == 1


def test_a_connection_the_node_closed_while_idle_is_not_a_node_failure(api_client, imitations):
    """A pooled connection may have been closed by the node meanwhile: the request goes again on a
    new connection to the same node, which is not cooled down for it."""
    app, client = api_client()
    node = imitations("node")
    add_node(app, node)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    node.drop_idle_connections()
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200, response.get_data(as_text=True)
    first, second = (request.connection for request in node.requests)
    assert first != second
    assert app.extensions["inference"].balancer.cooling() == []
