"""Streaming through the real router (gunicorn): events pass as they arrive, a broken stream ends with
an error event and [DONE], and a client that leaves stops the node."""

from __future__ import annotations

import http.client
import json
import socket

import requests

from tests.support.inference import MODEL, LiveFleet

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Count."}]}


def open_stream(fleet: LiveFleet, body: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", fleet.port, timeout=10)
    connection.request("POST", "/v1/chat/completions", json.dumps(body),
                       {"Authorization": f"Bearer {fleet.api_key}", "Content-Type": "application/json"})
    return connection, connection.getresponse()


def read_events(response: http.client.HTTPResponse, until: int | None = None) -> list[str]:
    """Server-sent events as they come (`until`: stop after that many)."""
    events: list[str] = []
    buffer = b""
    while until is None or len(events) < until:
        chunk = response.read1(65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            events.append(event.decode())
    return events


def payloads(events: list[str]) -> list[dict | str]:
    out: list[dict | str] = []
    for event in events:
        assert event.startswith("data: "), event
        data = event[len("data: "):]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_events_pass_through_as_they_arrive(fleet: LiveFleet):
    node = fleet.node
    node.tokens, node.token_interval = 6, 0.2
    connection, response = open_stream(fleet, {**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.getheader("X-Accel-Buffering") == "no"
    assert float(response.getheader("X-Router-Overhead-Ms")) >= 0
    first = read_events(response, until=1)
    # The client holds the first token while the node still has most of the answer to send.
    assert node.requests[-1].events_sent < node.tokens
    rest = payloads(first + read_events(response))
    connection.close()
    tokens = [item["choices"][0]["delta"]["content"] for item in rest
              if isinstance(item, dict) and item["choices"] and item["choices"][0]["delta"]]
    assert tokens == [f"tok{i} " for i in range(6)]
    assert rest[-2] == {"id": "imitation-1", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                        "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}}
    assert rest[-1] == "[DONE]"
    assert node.wait_for_outcome() == "completed"


def test_a_node_dying_mid_stream_ends_with_an_error_event_and_done(fleet: LiveFleet):
    node = fleet.node
    node.mode, node.tokens, node.die_after = "die", 5, 2
    connection, response = open_stream(fleet, {**CHAT, "stream": True})
    assert response.status == 200
    events = payloads(read_events(response))
    assert response.isclosed()  # the body ended properly (complete chunked encoding), not cut off
    connection.close()
    assert [item["choices"][0]["delta"]["content"] for item in events[:2]] == ["tok0 ", "tok1 "]
    assert events[2]["error"]["code"] == "stream_interrupted"
    assert events[2]["error"]["type"] == "server_error"
    assert events[3] == "[DONE]" and len(events) == 4


def test_a_node_stalling_mid_stream_ends_with_an_error_event_and_done(fleet: LiveFleet):
    """The fleet's router waits 1 s (LLM_ROUTER_NODE_READ_TIMEOUT_SECONDS) for the node's next bytes."""
    node = fleet.node
    node.mode, node.tokens, node.die_after = "stall", 5, 1
    connection, response = open_stream(fleet, {**CHAT, "stream": True})
    events = payloads(read_events(response))
    connection.close()
    assert events[0]["choices"][0]["delta"]["content"] == "tok0 "
    assert events[1]["error"]["code"] == "stream_interrupted"
    assert events[2] == "[DONE]" and len(events) == 3
    assert node.wait_for_outcome() == "stalled"


def test_a_stream_ending_without_done_is_reported_incomplete(fleet: LiveFleet):
    """A node closing a close-delimited stream early looks like a normal end; the missing [DONE] tells."""
    node = fleet.node
    node.mode, node.framing, node.tokens, node.die_after = "die", "close", 4, 3
    connection, response = open_stream(fleet, {**CHAT, "stream": True})
    events = payloads(read_events(response))
    connection.close()
    assert len(events) == 5
    assert events[3]["error"]["code"] == "stream_interrupted" and events[4] == "[DONE]"


def test_a_close_delimited_stream_passes_through(fleet: LiveFleet):
    node = fleet.node
    node.framing, node.tokens = "close", 3
    connection, response = open_stream(fleet, {**CHAT, "stream": True})
    events = payloads(read_events(response))
    connection.close()
    assert events[-1] == "[DONE]"
    assert sum(1 for item in events if isinstance(item, dict) and item["choices"][0]["delta"]) == 3


def test_a_client_leaving_mid_stream_stops_the_node(fleet: LiveFleet):
    node = fleet.node
    node.tokens, node.token_interval = 200, 0.02
    body = json.dumps({**CHAT, "stream": True}).encode()
    client = socket.create_connection(("127.0.0.1", fleet.port), timeout=10)
    client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
                   b"Authorization: Bearer " + fleet.api_key.encode() + b"\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    received = b""
    while received.count(b'"tok') < 3:
        chunk = client.recv(65536)
        assert chunk, "the router closed the stream"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    client.close()  # the client goes away mid-answer

    assert node.wait_for_outcome(timeout=10) == "cancelled"
    assert node.requests[-1].events_sent < node.tokens
    # The router gave the node's slot back: the next request is served (the fleet allows one per node).
    node.tokens, node.token_interval = 2, 0.0
    response = requests.post(f"{fleet.url}/v1/chat/completions", json=CHAT, timeout=10,
                             headers={"Authorization": f"Bearer {fleet.api_key}"})
    assert response.status_code == 200, response.text


def test_non_streaming_answers_carry_the_overhead_header(fleet: LiveFleet):
    fleet.node.delay = 0.3
    response = requests.post(f"{fleet.url}/v1/chat/completions", json=CHAT, timeout=10,
                             headers={"Authorization": f"Bearer {fleet.api_key}"})
    assert response.status_code == 200
    assert response.json()["usage"]["completion_tokens"] == fleet.node.tokens
    # The 300 ms the node took are not the router's own time.
    assert 0 <= float(response.headers["X-Router-Overhead-Ms"]) < 300
