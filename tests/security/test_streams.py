"""Audit findings about streams, node answers and `/v1` bodies (issue 10: 7, 9, and 12's `/v1` part).

7: clients that open streams and never read them must not hold node slots beyond
   LLM_ROUTER_CLIENT_IDLE_TIMEOUT_SECONDS, and one API key may have at most
   LLM_ROUTER_KEY_MAX_CONCURRENCY requests in flight: checked on the real router (gunicorn, both
   worker classes), since only a real server has client sockets whose writes can block.
9: a node sending an endless event or a huge answer must not make the router buffer without bound.
12: bodies that broke the JSON parser or the database (deep nesting, lone surrogates) are a 400.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask

from app import create_app
from app.services.fleet import nodes, polling
from app.services.registry import models as registry
from tests.support.cluster import wait_for
from tests.support.factories import csrf_token_of, login_session, make_api_key, router_config
from tests.support.hub_imitation import HubImitation
from tests.support.node_imitation import NodeImitation
from tests.support.router_process import RouterProcess, start_router
from tests.support.status_node import node_body

MODEL = "qwen3-0.6b"  # a catalog id: registering it needs no Hub
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Count."}]}
MIB = 1024 * 1024


def error_of(response, status: int, code: str) -> dict:
    """The OpenAI error envelope of a `requests` or a Flask test client response, checked."""
    body = response.json() if isinstance(response, requests.Response) else response.get_json()
    assert response.status_code == status, body
    error = body["error"]
    assert error["code"] == code, error
    return error


# --- 7: streams never read, and the per-key cap (a real router) ---------------------------------

IDLE_TIMEOUT = 1.5
LIVE_SETTINGS = {
    "LLM_ROUTER_WORKERS": "1", "LLM_ROUTER_THREADS": "16", "LLM_ROUTER_NODE_POLL_SECONDS": "0.5",
    "LLM_ROUTER_ROUTING_CACHE_SECONDS": "0", "LLM_ROUTER_NODE_READ_TIMEOUT_SECONDS": "30",
    # Two node slots, a queue that waits well past the idle timeout, and a cap of two per key.
    "LLM_ROUTER_NODE_MAX_CONCURRENCY": "2", "LLM_ROUTER_QUEUE_SIZE": "4", "LLM_ROUTER_QUEUE_TIMEOUT_SECONDS": "10",
    "LLM_ROUTER_CLIENT_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT), "LLM_ROUTER_KEY_MAX_CONCURRENCY": "2",
}


@dataclass
class Fleet:
    router: RouterProcess
    node: NodeImitation
    keys: tuple[str, str]  # two api-scope keys

    @property
    def port(self) -> int:
        return int(self.router.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def live_fleet(request, tmp_path_factory: pytest.TempPathFactory, hub: HubImitation) -> Iterator[Fleet]:
    router = start_router(tmp_path_factory.mktemp("streams"), hub.url,
                          {"LLM_ROUTER_WORKER_CLASS": request.param, **LIVE_SETTINGS})
    node = NodeImitation((MODEL,), name="streams-node").start()
    try:
        admin = router.auth_headers
        def key(name: str, scope: str) -> str:
            created = requests.post(f"{router.url}/v0/api-keys", headers=admin, timeout=10,
                                    json={"name": name, "scopes": [scope]})
            assert created.status_code == 201, created.text
            return created.json()["key"]
        keys = (key("client a", "api"), key("client b", "api"))
        registered = requests.post(f"{router.url}/v0/nodes", json=node_body(name=node.name, url=node.url, memory_bytes=64 * 1024 ** 3), timeout=10,
                                   headers={"Authorization": f"Bearer {key('node', 'node')}"})
        assert registered.status_code in (200, 201), registered.text
        node.token = registered.json()["token"]
        assert requests.post(f"{router.url}/v0/models/register", headers=admin, json={"id": MODEL},
                             timeout=10).status_code == 201
        ready = lambda: MODEL in [m["id"] for m in requests.get(  # noqa: E731
            f"{router.url}/v1/models", headers={"Authorization": f"Bearer {keys[0]}"}, timeout=5).json()["data"]]
        wait_for(ready, 20, f"{MODEL} to be ready on the router")
        yield Fleet(router, node, keys)
    finally:
        node.stop()
        router.stop()


@pytest.fixture
def fleet(live_fleet: Fleet) -> Iterator[Fleet]:
    live_fleet.node.reset()
    wait_for(lambda: live_fleet.node.active == 0, 10, "the node to be idle")
    yield live_fleet
    live_fleet.node.reset()


def unread_stream(fleet: Fleet, key: str) -> socket.socket:
    """A client that asks for a stream and never reads it, with a small receive buffer: the router's
    writes block once its own send buffer is full too."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", fleet.port))
    body = json.dumps({**CHAT, "stream": True}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the router sent before it closed the connection (bounded by a timeout)."""
    sock.settimeout(10)
    received = bytearray()
    try:
        while chunk := sock.recv(1 << 20):
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return bytes(received)


def open_unread_streams(fleet: Fleet, key: str, count: int) -> list[socket.socket]:
    """`count` streams of a large answer that are never read, each holding one of the node's slots."""
    node = fleet.node
    node.mode, node.flood_bytes, node.flood_event_bytes = "flood", 32 * MIB, 16 * 1024
    streams = [unread_stream(fleet, key) for _ in range(count)]
    wait_for(lambda: node.active == count, 10, f"{count} streams to reach the node")
    node.mode = "normal"  # what comes next gets a short answer
    return streams


def chat(fleet: Fleet, key: str) -> requests.Response:
    return requests.post(f"{fleet.router.url}/v1/chat/completions", json=CHAT, timeout=30,
                         headers={"Authorization": f"Bearer {key}"})


def test_7_streams_never_read_give_their_node_slots_back_after_the_idle_timeout(fleet: Fleet):
    """Both node slots held by streams nobody reads: an honest request waits in the queue and is served
    once the idle timeout has closed them — not 504 queue_timeout after the queue timeout (10 s)."""
    streams = open_unread_streams(fleet, fleet.keys[0], 2)
    honest = chat(fleet, fleet.keys[1])
    assert honest.status_code == 200, honest.text
    assert float(honest.headers["X-Router-Queue-Ms"]) > 0  # it did wait for a slot
    # The router hung up on the node for each unread stream (it had far more to send)...
    assert [fleet.node.wait_for_outcome(index) for index in (0, 1)] == ["cancelled", "cancelled"]
    for sock in streams:  # ...and closed the client's connection, its answer cut short
        answer = read_to_end(sock)
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"data: [DONE]" not in answer and len(answer) < fleet.node.flood_bytes
    assert "Traceback" not in fleet.router.log_path.read_text()  # the limit at work is no error of the router


def test_7_one_api_key_has_at_most_key_max_concurrency_requests_in_flight(fleet: Fleet):
    """Key A holds its two allowed streams: its third request is refused at once with 429, saying
    which limit and setting; key B is not affected; once the streams end, key A is served again."""
    streams = open_unread_streams(fleet, fleet.keys[0], 2)
    refused = chat(fleet, fleet.keys[0])
    error = error_of(refused, 429, "too_many_concurrent_requests")
    assert error["type"] == "rate_limit_error" and error["param"] is None
    assert "2" in error["message"] and "LLM_ROUTER_KEY_MAX_CONCURRENCY" in error["message"]
    assert refused.headers["Retry-After"] == "1"
    assert chat(fleet, fleet.keys[1]).status_code == 200  # another key: queued, then served
    for sock in streams:
        read_to_end(sock)
    assert wait_for(lambda: chat(fleet, fleet.keys[0]).status_code == 200, 10, "key A to be served again")


def test_7_a_request_body_that_stops_arriving_is_a_408(fleet: Fleet):
    """The idle timeout also bounds reading the body: a client that sends part of it and stops."""
    with socket.create_connection(("127.0.0.1", fleet.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {fleet.keys[0]}\r\nContent-Length: 100\r\n\r\n".encode()
                     + b'{"model": ')
        sock.settimeout(10)
        answer = b""
        while b"}}" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"request_timeout"' in answer.replace(b" ", b"")


# --- In-process router with a node imitation (7 for signed-in users, 9) ----------------------------

@dataclass
class InProcess:
    app: Flask
    client: object
    node: NodeImitation


@pytest.fixture
def make_in_process(tmp_path: Path, hub: HubImitation) -> Iterator:
    made: list[InProcess] = []

    def make(**overrides) -> InProcess:
        settings = {"ROUTING_CACHE_SECONDS": 0.0, "NODE_READ_TIMEOUT_SECONDS": 10.0, **overrides}
        app = create_app(router_config(tmp_path / f"app{len(made)}", hub.url, **settings))
        node = NodeImitation((MODEL,), name="hostile-node").start()
        with app.app_context():
            registry.register({"id": MODEL})
            registered, _created = nodes.register_node(node_body(name=node.name, url=node.url, memory_bytes=64 * 1024 ** 3))
            node.token = registered.token
            polling.poll_all()
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['api'])}"
        made.append(InProcess(app, client, node))
        return made[-1]

    yield make
    for router in made:
        router.node.stop()
        router.app.extensions["inference"].connections.close()
        router.app.extensions["hub_stats"].close()


@pytest.fixture
def in_process(make_in_process) -> InProcess:
    return make_in_process()


def test_7_a_signed_in_user_in_the_playground_has_the_same_cap(make_in_process):
    """The Playground calls /v1 with the user's session: the cap counts per user. An open stream counts
    until it is closed."""
    router = make_in_process(KEY_MAX_CONCURRENCY=1)
    browser = router.app.test_client()
    login_session(browser)
    headers = {"X-CSRFToken": csrf_token_of(browser.get("/playground").get_data(as_text=True))}
    stream = browser.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=headers, buffered=False)
    assert stream.status_code == 200
    error = error_of(browser.post("/v1/chat/completions", json=CHAT, headers=headers), 429,
                     "too_many_concurrent_requests")
    assert "LLM_ROUTER_KEY_MAX_CONCURRENCY" in error["message"]
    assert router.client.post("/v1/chat/completions", json=CHAT).status_code == 200  # an API key: its own count
    stream.close()  # the stream ended: the user may send again
    assert browser.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 200


def sse_payloads(data: bytes) -> list[dict | str]:
    events = [event for event in data.decode().split("\n\n") if event]
    return [event[6:] if event == "data: [DONE]" else json.loads(event[6:]) for event in events]


def test_9_an_endless_first_event_is_a_failed_node_not_unbounded_buffering(in_process: InProcess):
    """64 MiB without an event boundary: the router gives up after its 1 MiB event limit and answers
    502 (the node counts as failed), hanging up on the node long before it has sent everything."""
    node = in_process.node
    node.mode, node.flood_bytes, node.flood_after = "boundless", 64 * MIB, 0
    response = in_process.client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    error = error_of(response, 502, "node_unreachable")
    assert "larger than" in error["message"]
    assert node.wait_for_outcome() == "cancelled"


def test_9_an_endless_event_mid_stream_ends_the_stream_with_an_error_event(in_process: InProcess):
    """After a good first event, 64 MiB without a boundary: the client gets that event, then the error
    event and [DONE] — the router held at most its 1 MiB limit, and hung up on the node."""
    node = in_process.node
    node.mode, node.flood_bytes, node.flood_after = "boundless", 64 * MIB, 1
    response = in_process.client.post("/v1/chat/completions", json={**CHAT, "stream": True}, buffered=False)
    assert response.status_code == 200
    events = sse_payloads(response.get_data())
    response.close()
    assert events[0]["choices"][0]["delta"]["content"] == "tok"
    assert events[1]["error"]["code"] == "stream_interrupted" and "1 MiB" in events[1]["error"]["message"]
    assert events[2:] == ["[DONE]"]
    assert node.wait_for_outcome() == "cancelled"


@pytest.mark.parametrize("framing", ["close", "length"])
def test_9_an_answer_beyond_64_mib_is_a_failed_node(in_process: InProcess, framing: str):
    """A non-streamed answer of 160 MiB, its length announced or not: 502, the node hung up on."""
    node = in_process.node
    node.mode, node.flood_bytes, node.framing = "flood", 160 * MIB, "close" if framing == "close" else "chunked"
    response = in_process.client.post("/v1/chat/completions", json=CHAT)
    error = error_of(response, 502, "node_unreachable")
    assert "64 MiB" in error["message"]
    assert node.wait_for_outcome() == "cancelled"


# --- 12: bodies that broke the parser or the database -----------------------------------------------

PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


@pytest.mark.parametrize("path", PATHS)
def test_12_deeply_nested_json_on_v1_is_a_400(client, path: str):
    nested = b"[" * 50_000 + b"]" * 50_000
    response = client.post(path, data=nested, content_type="application/json")
    error = error_of(response, 400, "invalid_json")
    assert error["param"] is None and "too deeply" in error["message"]
    wrapped = b'{"model": ' + nested + b"}"
    assert error_of(client.post(path, data=wrapped, content_type="application/json"), 400, "invalid_json")


@pytest.mark.parametrize("raw_model", [b'"\\ud800"', b'"qwen\\udfff"', b'"\xed\xa0\x80"'],
                         ids=["escaped", "escaped-low", "utf8-bytes"])
@pytest.mark.parametrize("path", PATHS)
def test_12_a_lone_surrogate_as_the_v1_model_is_a_400(client, path: str, raw_model: bytes):
    rest = {"/v1/chat/completions": b'"messages": [{"role": "user", "content": "hi"}]',
            "/v1/completions": b'"prompt": "hi"', "/v1/embeddings": b'"input": "hi"'}[path]
    response = client.post(path, data=b'{"model": ' + raw_model + b", " + rest + b"}",
                           content_type="application/json")
    error = error_of(response, 400, "invalid_value")
    assert error["param"] == "model" and "surrogate" in error["message"]
