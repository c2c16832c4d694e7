"""Why a model cannot be served: unknown (404), downloading, on no online node, failed (503)."""

from __future__ import annotations

import json

from app.services.fleet import polling
from app.services.registry import models as registry
from tests.support.inference import MODEL, add_node, poll

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
MiB = 1024 ** 2


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def test_unknown_model_is_404(api_client):
    _app, client = api_client()
    for path, body in (("/v1/chat/completions", {**CHAT, "model": "acme/never-registered"}),
                       ("/v1/completions", {"model": "acme/never-registered", "prompt": "x"}),
                       ("/v1/embeddings", {"model": "acme/never-registered", "input": "x"})):
        response = client.post(path, json=body)
        assert response.status_code == 404
        error = error_of(response)
        assert (error["type"], error["code"], error["param"]) == ("not_found_error", "model_not_found", "model")
        assert "acme/never-registered" in error["message"]


def test_downloading_model_is_503_with_progress_and_retry_after(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    node.model_reports[MODEL] = {"state": "downloading", "downloaded_bytes": 512 * MiB, "total_bytes": 2048 * MiB}
    add_node(app, node)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    error = error_of(response)
    assert (error["type"], error["code"], error["param"]) == ("service_unavailable_error", "model_downloading", "model")
    assert "512.0 MiB of 2.0 GiB (25.0%)" in error["message"], error["message"]
    assert response.headers["Retry-After"] == "10"  # the node poll interval: when news can come
    assert node.requests == []


def test_model_waiting_for_its_download_is_503_downloading(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    node.model_reports[MODEL] = {"state": "pending"}
    add_node(app, node)
    response = client.post("/v1/completions", json={"model": MODEL, "prompt": "x"})
    assert response.status_code == 503
    assert error_of(response)["code"] == "model_downloading"
    assert "Retry-After" in response.headers


def test_registered_model_on_no_node_is_503_no_available_nodes(api_client):
    _app, client = api_client()
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "no_available_nodes"
    assert "No node holds" in error["message"]
    assert response.headers["Retry-After"] == "10"


def test_model_ready_only_on_an_offline_node_is_503_no_available_nodes(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    add_node(app, node)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    node.stop()
    for _ in range(polling.OFFLINE_AFTER_FAILED_POLLS):
        poll(app)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "no_available_nodes"
    assert "offline" in error["message"]


def test_model_failed_everywhere_is_503_with_the_error(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    node.model_reports[MODEL] = {"state": "error", "error": "disk full"}
    add_node(app, node)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "model_error"
    assert "disk full" in error["message"]
    assert "Retry-After" not in response.headers  # it will not fix itself


def test_cancelled_model_is_503_with_the_reason(api_client, imitations):
    app, client = api_client()
    add_node(app, imitations("node"))
    with app.app_context():
        registry.cancel(MODEL)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "model_error"
    assert "cancelled" in error["message"]


def test_a_model_that_became_ready_is_served_despite_the_routing_cache(api_client, imitations):
    """The routing table is cached; a model missing from it is looked up afresh before refusing."""
    app, client = api_client(ROUTING_CACHE_SECONDS=3600.0)
    node = imitations("node")
    node.model_reports[MODEL] = {"state": "downloading", "downloaded_bytes": 1, "total_bytes": 2}
    add_node(app, node)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 503
    node.model_reports.clear()
    poll(app)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(node.requests) == 1


def test_errors_follow_the_clients_language(api_client, imitations):
    app, client = api_client()
    node = imitations("node")
    node.mode, node.die_after = "die", 1
    add_node(app, node)
    response = client.post("/v1/chat/completions", json={**CHAT, "model": "acme/unknown"},
                           headers={"Accept-Language": "ja"})
    assert "存在しません" in error_of(response)["message"]
    stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers={"Accept-Language": "ja"})
    assert "回答の途中でノードとの接続が切れた" in stream_error(stream)["message"]
    english = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert "The connection to the node broke" in stream_error(english)["message"]


def stream_error(response) -> dict:
    events = response.get_data(as_text=True).split("\n\n")
    [error] = [json.loads(event[len("data: "):]) for event in events if event.startswith('data: {"error"')]
    return error["error"]
