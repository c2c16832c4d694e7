"""`POST /v0/logs/query`: the router's own log file, a node's through the router, and every refusal."""

from __future__ import annotations

import logging
import uuid

import pytest
import requests

from app.services.registry import models as registry
from tests.support.inference import MODEL, add_node
from tests.support.node_imitation import NodeImitation
from tests.support.rows import add_node as add_node_row

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture
def marker() -> str:
    """A word that only this test's log lines hold."""
    return f"mark{uuid.uuid4().hex[:12]}"


def log_lines(*lines: tuple[int, str]) -> None:
    logger = logging.getLogger("tests.api_v0.logs")
    logger.setLevel(logging.DEBUG)  # records reach the root's handlers whatever the root's own level
    for level, message in lines:
        logger.log(level, "%s", message)


def query(client, body: dict):
    return client.post("/v0/logs/query", json=body)


def messages(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [line["message"] for line in response.get_json()["lines"]]


def test_router_lines_are_filtered_on_the_server(client, marker: str):
    log_lines((logging.INFO, f"{marker} 1 node gpu-1 is online again"),
              (logging.WARNING, f"{marker} 2 node gpu-1 failed (no answer); cooling it down"),
              (logging.DEBUG, f"{marker} 3 poll of gpu-2 took 12 ms"),
              (logging.ERROR, f"{marker} 4 request history: 3 request(s) not recorded"))
    mine = {"field": "message", "op": "contains", "value": marker.upper()}
    assert messages(query(client, {"source": "router", "conditions": [mine]})) == \
        [f"{marker} {n}" + rest for n, rest in ((4, " request history: 3 request(s) not recorded"),
                                                (3, " poll of gpu-2 took 12 ms"),
                                                (2, " node gpu-1 failed (no answer); cooling it down"),
                                                (1, " node gpu-1 is online again"))]
    assert [m[len(marker) + 1] for m in messages(query(client, {"level": "warning", "conditions": [mine]}))] == \
        ["4", "2"]
    gpu = {"field": "message", "op": "regex", "value": r"gpu-\d (is|failed)"}
    assert [m[len(marker) + 1] for m in messages(query(client, {"conditions": [mine, gpu]}))] == ["2", "1"]
    not_gpu = {**gpu, "op": "not_regex"}
    assert [m[len(marker) + 1] for m in messages(query(client, {"conditions": [mine, not_gpu]}))] == ["4", "3"]
    either = [{"field": "message", "op": "contains", "value": f"{marker} 3"},
              {"field": "message", "op": "contains", "value": f"{marker} 1"}]
    assert [m[len(marker) + 1] for m in messages(query(client, {"match": "any", "conditions": either}))] == ["3", "1"]
    page = query(client, {"conditions": [mine], "limit": 3}).get_json()
    rest = query(client, {"conditions": [mine], "limit": 3, "cursor": page["next_cursor"]}).get_json()
    assert [line["message"][len(marker) + 1] for line in page["lines"] + rest["lines"]] == ["4", "3", "2", "1"]
    line = page["lines"][0]
    assert list(line) == ["at", "level", "logger", "message", "request_id"]
    assert (line["level"], line["logger"], line["request_id"]) == ("error", "tests.api_v0.logs", None)


def test_an_invalid_regex_is_400_naming_the_condition(client):
    conditions = [{"field": "any", "op": "contains", "value": "x"},
                  {"field": "message", "op": "regex", "value": "node [gpu"}]
    response = query(client, {"conditions": conditions})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["param"], error["code"], error["type"]) == ("conditions[1].value", "invalid_query",
                                                               "invalid_request_error")
    assert "character 6" in error["message"] and "missing ]" in error["message"]


def test_a_pathological_regex_answers(client, marker: str):
    log_lines((logging.WARNING, f"{marker} " + "a" * 20_000 + "!"))
    pathological = {"field": "message", "op": "regex", "value": "(a+)+$"}
    mine = {"field": "message", "op": "contains", "value": marker}
    assert messages(query(client, {"conditions": [mine, pathological]})) == []


@pytest.mark.parametrize(("body", "param"), [
    ({"level": "verbose"}, "level"),
    ({"since": "3 December"}, "since"),
    ({"match": "either"}, "match"),
    ({"conditions": [{"field": "host", "op": "contains", "value": "x"}]}, "conditions[0].field"),
    ({"limit": 5000}, "limit"),
    ({"cursor": "%%%"}, "cursor"),
    ({"source": 7}, "source"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_queries_are_400_with_param(client, body: dict, param: str):
    response = query(client, body)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == param


def test_a_body_that_is_not_an_object_is_400(client):
    assert client.post("/v0/logs/query", json=["router"]).status_code == 400


def test_log_lines_made_while_serving_a_v1_request_carry_its_id(app, client):
    """A node that fails makes the router log a warning while it serves the request: that line carries
    the request's id (the one the client got as X-Request-Id), and the node was sent the same id."""
    failing = NodeImitation((MODEL,), name="failing-node").start()
    try:
        with app.app_context():
            registry.register({"id": MODEL})
        add_node(app, failing)
        failing.mode = "fail"
        response = client.post("/v1/chat/completions", json=CHAT)
        assert response.status_code >= 500
        request_id = response.headers["X-Request-Id"]
        assert failing.requests[-1].headers["x-request-id"] == request_id
    finally:
        failing.stop()
    by_id = {"field": "any", "op": "contains", "value": request_id}
    lines = query(client, {"conditions": [by_id]}).get_json()["lines"]
    assert lines and {line["request_id"] for line in lines} == {request_id}
    assert any(line["logger"] == "app.services.inference.relay" and "failing-node" in line["message"]
               for line in lines)


def test_an_unknown_node_is_404(client):
    response = query(client, {"source": "0123456789abcdef0123456789abcdef"})
    assert response.status_code == 404
    assert response.get_json()["error"]["param"] == "source"


def test_an_offline_node_is_503_naming_it(app, client):
    with app.app_context():
        node_id = add_node_row("sleepy-node", online=False).id
    response = query(client, {"source": node_id})
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "node_offline" and "sleepy-node" in error["message"]


def test_an_unreachable_node_is_503_naming_it(app, client):
    with app.app_context():
        node_id = add_node_row("gone-node", url="http://127.0.0.1:9").id  # online, but nothing listens
    response = query(client, {"source": node_id})
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "node_unreachable" and "gone-node" in error["message"]


def test_a_node_without_the_endpoint_is_502(app, client):
    old = NodeImitation((MODEL,), name="old-node").start()  # answers 404 to GET /v0/logs, as an older agent
    try:
        node_id = add_node(app, old)
        response = query(client, {"source": node_id})
    finally:
        old.stop()
    assert response.status_code == 502
    assert "old-node" in response.get_json()["error"]["message"]


# -- a real node agent, through a real router --------------------------------------------------------


def test_node_lines_through_the_router(inference_router):
    cluster = inference_router.cluster
    node_id = cluster.node_record("local")["id"]
    chat = requests.post(f"{cluster.router.url}/v1/chat/completions", timeout=60,
                         headers={"Authorization": f"Bearer {cluster.api_key}"},
                         json={"model": inference_router.model_id, "max_tokens": 4,
                               "messages": [{"role": "user", "content": "Hello"}]})
    assert chat.status_code == 200, chat.text
    request_id = chat.headers["X-Request-Id"]

    def ask(body: dict) -> requests.Response:
        return cluster.api("POST", "/v0/logs/query", json={"source": node_id, **body})

    registered = ask({"level": "info", "conditions": [{"field": "message", "op": "regex",
                                                       "value": "^registered with the router"}]})
    assert registered.status_code == 200, registered.text
    (line,) = registered.json()["lines"]
    assert line["logger"] == "node_agent.router_client" and line["request_id"] is None
    # The engine is loaded for the first request, on the thread serving it: the line carries its id.
    loaded = ask({"conditions": [{"field": "message", "op": "regex", "value": "^loaded "}]}).json()["lines"]
    assert [entry["request_id"] for entry in loaded] == [request_id]
    assert ask({"conditions": [{"field": "message", "op": "regex", "value": "(x"}]}).status_code == 400
    paged = ask({"limit": 1})
    assert paged.status_code == 200 and len(paged.json()["lines"]) == 1 and paged.json()["next_cursor"]
    following = ask({"limit": 1, "cursor": paged.json()["next_cursor"]}).json()["lines"]
    assert following and following != paged.json()["lines"]
    router_lines = cluster.api("POST", "/v0/logs/query", json={"source": "router", "level": "info"})
    assert router_lines.status_code == 200 and router_lines.json()["lines"]  # the gunicorn router's own file
