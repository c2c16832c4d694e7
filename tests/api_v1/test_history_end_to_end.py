"""The request history end to end (issue 12, acceptance): the real router (gunicorn) → one real node agent
running the tiny chat model and the tiny embedding model with CTranslate2, downloaded from the Hub imitation.

One set of requests serves the module for each gunicorn worker class (starting the fleet and generating
are most of the time): a chat answer, two streams (one asking for usage, one not), a completion,
embeddings, a 400, a 404 and a 503 (a registered model no node can hold), sent with API keys created
through `/v0/api-keys`. Each is sent only once the previous one is in the
history, so the history's order is the order they were sent in, and nothing else is in it (the fleet's
readiness is read through `/v0`, never `/v1`, which is recorded too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import tiny_model
from tests.support.cluster import Cluster, start_cluster, wait_for
from tests.support.hub_imitation import HubImitation, repo_from_directory
from tests.support.inference import WORKER_CLASSES

DATA = Path(__file__).resolve().parent.parent / "data"
CHAT_ID = "acme/tiny-llama-ct2"
ENCODER_ID = "acme/tiny-encoder-ct2"
UNHELD_REPO, UNHELD_ID = "acme/Tiny-Llama-GGUF", "acme/tiny-llama-gguf:f16"  # llama.cpp: the node runs only CT2
NODE = "solo"
KEY_NAME, OTHER_KEY_NAME = "history acceptance", "second client"
JAPANESE = "東京の天気"  # only in the first (oldest) request
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
EMBEDDED = ["The quick brown fox", "富士山の高さ"]
CLIENT_REQUEST_ID = "acceptance-chat-0001"


@dataclass
class Sent:
    """One request as the client saw it."""

    name: str
    status: int
    request_id: str  # the X-Request-Id header
    body: Any  # what was sent (bytes when it was not JSON)
    answer: Any = None  # the JSON answer (None for a stream)
    events: list[dict[str, Any]] = field(default_factory=list)  # a stream's JSON events, in order

    @property
    def streamed_text(self) -> str:
        return "".join(choice["delta"].get("content") or "" for event in self.events
                       for choice in event.get("choices") or [])


@dataclass
class Fleet:
    cluster: Cluster
    key: dict[str, Any]  # the key record from POST /v0/api-keys, with its secret
    other_key: dict[str, Any]
    sent: dict[str, Sent]
    between: datetime  # after the completion was answered, before the embeddings were sent

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.cluster.api("GET", path, params=params)

    def ids(self, **params: Any) -> list[str]:
        response = self.get("/v0/requests", **params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["requests"]]

    def newest_first(self, *names: str) -> list[str]:
        return [self.sent[name].request_id for name in reversed(ORDER) if name in names]


ORDER = ("chat", "stream", "stream_usage", "completion", "embeddings", "bad_body", "unknown_model", "unavailable")
ANSWERED = ("chat", "stream", "stream_usage", "completion", "embeddings")


def create_key(cluster: Cluster, name: str) -> dict[str, Any]:
    response = cluster.api("POST", "/v0/api-keys", json={"name": name, "scopes": ["api"]})
    assert response.status_code == 201, response.text
    return response.json()


def wait_recorded(cluster: Cluster, request_id: str) -> dict[str, Any]:
    """The record of `request_id`, once the history's batching writer has stored it."""
    def record() -> dict[str, Any] | None:
        response = cluster.api("GET", f"/v0/requests/{request_id}")
        return response.json() if response.status_code == 200 else None
    return wait_for(record, 30, f"request {request_id} in the history", cluster.logs)


def send(cluster: Cluster, key: str, name: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Sent:
    """Send one request (a stream is read to its end) and wait until the history holds it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stream = isinstance(body, dict) and body.get("stream") is True
    response = requests.post(f"{cluster.router.url}{path}", data=raw, timeout=120, stream=stream,
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                      **(headers or {})})
    sent = Sent(name, response.status_code, response.headers["X-Request-Id"], body)
    if stream and response.status_code == 200:
        lines = [line for line in response.iter_lines(decode_unicode=True) if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]", lines[-3:]
        sent.events = [json.loads(line[6:]) for line in lines[:-1]]
    else:
        sent.answer = response.json()
    response.close()
    wait_recorded(cluster, sent.request_id)
    return sent


@pytest.fixture(scope="module", params=WORKER_CLASSES)
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    hub = HubImitation([repo_from_directory(CHAT_ID, tiny_model.CT2_DIR),
                        repo_from_directory(ENCODER_ID, DATA / "tiny-encoder" / "ct2"),
                        repo_from_directory(UNHELD_REPO, tiny_model.GGUF_DIR)]).start()
    # Two workers (the default): two history writers, one database.
    cluster = start_cluster(tmp_path_factory.mktemp("history-e2e"), hub, {"LLM_ROUTER_WORKER_CLASS": request.param,
                                                                            "LLM_ROUTER_WORKERS": "2"})
    try:
        cluster.start_node(NODE, "--engines", "ctranslate2")  # the later flag wins: no llama.cpp on this node
        for repo in (CHAT_ID, ENCODER_ID, UNHELD_REPO):
            cluster.register(repo)

        def ready() -> bool:
            online = {node["name"] for node in cluster.api("GET", "/v0/nodes").json()["nodes"] if node["online"]}
            return NODE in online and all(cluster.node_states(model).get(NODE, {}).get("state") == "ready"
                                          for model in (CHAT_ID, ENCODER_ID))
        cluster.wait(ready, 90, "the tiny chat and embedding models to be ready on the node")
        assert cluster.api("GET", "/v0/requests").json()["requests"] == []  # readiness was read through /v0
        key, other = create_key(cluster, KEY_NAME), create_key(cluster, OTHER_KEY_NAME)
        secret = key["key"]
        sent: dict[str, Sent] = {}
        sent["chat"] = send(cluster, secret, "chat", "/v1/chat/completions", {
            "model": CHAT_ID, "temperature": 0, "max_tokens": 12,
            "messages": [{"role": "user", "content": f"{JAPANESE}を教えてください。"}]},
            {"X-Request-Id": CLIENT_REQUEST_ID})
        sent["stream"] = send(cluster, secret, "stream", "/v1/chat/completions", {
            "model": CHAT_ID, "temperature": 0, "messages": CAPITAL, "stream": True})
        sent["stream_usage"] = send(cluster, secret, "stream_usage", "/v1/chat/completions", {
            "model": CHAT_ID, "temperature": 0, "messages": CAPITAL, "stream": True,
            "stream_options": {"include_usage": True}})
        sent["completion"] = send(cluster, secret, "completion", "/v1/completions", {
            "model": CHAT_ID, "prompt": "one two three", "temperature": 0, "max_tokens": 6})
        between = datetime.now(timezone.utc)
        sent["embeddings"] = send(cluster, secret, "embeddings", "/v1/embeddings", {
            "model": ENCODER_ID, "input": EMBEDDED, "encoding_format": "float"})
        sent["bad_body"] = send(cluster, secret, "bad_body", "/v1/chat/completions", b'{"model": oops')
        sent["unknown_model"] = send(cluster, other["key"], "unknown_model", "/v1/chat/completions", {
            "model": "acme/no-such-model", "messages": CAPITAL})
        sent["unavailable"] = send(cluster, secret, "unavailable", "/v1/chat/completions", {
            "model": UNHELD_ID, "messages": CAPITAL})
        yield Fleet(cluster, key, other, sent, between)
    finally:
        cluster.stop()
        hub.stop()


def test_each_request_got_the_answer_it_is_recorded_with(fleet: Fleet) -> None:
    assert {name: sent.status for name, sent in fleet.sent.items()} == {
        "chat": 200, "stream": 200, "stream_usage": 200, "completion": 200, "embeddings": 200,
        "bad_body": 400, "unknown_model": 404, "unavailable": 503}
    assert fleet.sent["bad_body"].answer["error"]["code"] == "invalid_json"
    assert fleet.sent["unknown_model"].answer["error"]["code"] == "model_not_found"
    assert fleet.sent["unavailable"].answer["error"]["code"] == "no_available_nodes"  # registered, held by no node
    ids = [sent.request_id for sent in fleet.sent.values()]
    assert len(set(ids)) == len(ids) and CLIENT_REQUEST_ID not in ids  # the router's own id, not the client's


def test_the_history_holds_exactly_the_requests_sent_newest_first(fleet: Fleet) -> None:
    assert fleet.ids(limit=200) == fleet.newest_first(*ORDER)


@pytest.mark.parametrize("name", ORDER)
def test_each_record_has_its_status_node_key_endpoint_and_error(fleet: Fleet, name: str) -> None:
    sent = fleet.sent[name]
    record = fleet.get(f"/v0/requests/{sent.request_id}").json()
    (listed,) = fleet.get("/v0/requests", request_id=sent.request_id).json()["requests"]
    assert {key: value for key, value in record.items()
            if key not in ("request_body", "response_body", "truncated")} == listed
    assert record["id"] == sent.request_id and record["status"] == sent.status
    answered = name in ANSWERED
    assert record["node"] == (NODE if answered else None) and record["failed_nodes"] == []
    key = fleet.other_key if name == "unknown_model" else fleet.key
    assert record["api_key"] == {"id": key["id"], "name": key["name"]}
    assert record["user"] is None
    endpoint = {"completion": "/v1/completions", "embeddings": "/v1/embeddings"}.get(name, "/v1/chat/completions")
    assert record["endpoint"] == endpoint
    assert record["stream"] is (name in ("stream", "stream_usage"))
    assert record["error_code"] == (None if answered else sent.answer["error"]["code"])
    model = None if name == "bad_body" else sent.body["model"]
    assert record["model"] == model
    assert record["client_request_id"] == (CLIENT_REQUEST_ID if name == "chat" else None)
    assert record["duration_ms"] > 0 and record["truncated"] is False
    for secret in (fleet.key["key"], fleet.other_key["key"]):  # the key's name, never the secret
        assert secret not in json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize("name", ORDER)
def test_the_request_body_is_stored_as_sent(fleet: Fleet, name: str) -> None:
    sent = fleet.sent[name]
    stored = fleet.get(f"/v0/requests/{sent.request_id}").json()["request_body"]
    assert stored == (sent.body.decode() if isinstance(sent.body, bytes) else sent.body)


@pytest.mark.parametrize("name", ["chat", "completion"])
def test_a_whole_answer_is_stored_with_the_tokens_of_its_usage(fleet: Fleet, name: str) -> None:
    sent = fleet.sent[name]
    record = fleet.get(f"/v0/requests/{sent.request_id}").json()
    assert record["response_body"] == sent.answer
    usage = sent.answer["usage"]
    assert usage["completion_tokens"] > 0
    assert (record["prompt_tokens"], record["completion_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert record["ttft_ms"] is None


def test_embeddings_are_stored_as_count_and_dimensions(fleet: Fleet) -> None:
    sent = fleet.sent["embeddings"]
    vectors = [item["embedding"] for item in sent.answer["data"]]
    assert len(vectors) == len(EMBEDDED) and len(vectors[0]) > 1
    record = fleet.get(f"/v0/requests/{sent.request_id}").json()
    assert record["response_body"]["data"] == {"count": len(EMBEDDED), "dimensions": len(vectors[0])}
    assert record["response_body"]["usage"] == sent.answer["usage"]
    assert (record["prompt_tokens"], record["completion_tokens"]) == \
        (sent.answer["usage"]["prompt_tokens"], sent.answer["usage"].get("completion_tokens"))
    assert str(vectors[0][0]) not in json.dumps(record)


def test_a_client_that_asked_for_usage_gets_it_in_the_last_event_and_the_history_the_same(fleet: Fleet) -> None:
    sent = fleet.sent["stream_usage"]
    *chunks, last = sent.events
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0
    assert all(chunk["choices"] and chunk.get("usage") is None for chunk in chunks)
    record = fleet.get(f"/v0/requests/{sent.request_id}").json()
    assert (record["prompt_tokens"], record["completion_tokens"]) == \
        (last["usage"]["prompt_tokens"], last["usage"]["completion_tokens"])
    assert record["response_body"]["usage"] == last["usage"]


def test_a_client_that_did_not_ask_gets_no_usage_but_the_history_has_the_tokens(fleet: Fleet) -> None:
    """The router asks the node for usage anyway (the history needs the tokens) and strips it again."""
    sent = fleet.sent["stream"]
    assert sent.events and all(event["choices"] and event.get("usage") is None for event in sent.events)
    # The same prompt, greedy, on the same node: the usage the other stream's client received.
    usage = fleet.sent["stream_usage"].events[-1]["usage"]
    record = fleet.get(f"/v0/requests/{sent.request_id}").json()
    assert (record["prompt_tokens"], record["completion_tokens"]) == \
        (usage["prompt_tokens"], usage["completion_tokens"])
    assert record["response_body"]["usage"] == usage


@pytest.mark.parametrize("name", ["stream", "stream_usage"])
def test_a_stream_is_stored_as_the_text_it_streamed(fleet: Fleet, name: str) -> None:
    sent = fleet.sent[name]
    assert sent.streamed_text == fleet.sent["stream"].streamed_text  # same prompt, greedy
    finish = [choice["finish_reason"] for event in sent.events for choice in event.get("choices") or []
              if choice.get("finish_reason")]
    record = fleet.get(f"/v0/requests/{sent.request_id}").json()
    assert sent.streamed_text and record["response_body"]["text"] == sent.streamed_text
    assert finish and record["response_body"]["finish_reason"] == finish[-1]
    assert record["ttft_ms"] is not None and 0 < record["ttft_ms"] <= record["duration_ms"]


def test_the_error_answers_are_stored_as_the_client_got_them(fleet: Fleet) -> None:
    for name in ("bad_body", "unknown_model", "unavailable"):
        sent = fleet.sent[name]
        record = fleet.get(f"/v0/requests/{sent.request_id}").json()
        assert record["response_body"] == sent.answer
        assert (record["prompt_tokens"], record["completion_tokens"]) == (None, None)


def test_filters_by_model_node_and_endpoint(fleet: Fleet) -> None:
    assert fleet.ids(model=CHAT_ID) == fleet.newest_first("chat", "stream", "stream_usage", "completion")
    assert fleet.ids(model=ENCODER_ID) == fleet.newest_first("embeddings")
    assert fleet.ids(model=UNHELD_ID) == fleet.newest_first("unavailable")
    assert fleet.ids(model="acme/no-such-model") == fleet.newest_first("unknown_model")
    assert fleet.ids(node=NODE) == fleet.newest_first(*ANSWERED)
    assert fleet.ids(node="elsewhere") == []
    assert fleet.ids(node=NODE, model=CHAT_ID) == fleet.newest_first("chat", "stream", "stream_usage", "completion")
    assert fleet.ids(endpoint="/v1/completions") == fleet.newest_first("completion")
    assert fleet.ids(endpoint="/v1/embeddings") == fleet.newest_first("embeddings")
    assert fleet.ids(endpoint="/v1/chat/completions") == fleet.newest_first(
        "chat", "stream", "stream_usage", "bad_body", "unknown_model", "unavailable")


def test_filters_by_api_key_name_and_id(fleet: Fleet) -> None:
    mine = fleet.newest_first(*(name for name in ORDER if name != "unknown_model"))
    assert fleet.ids(api_key=KEY_NAME) == mine
    assert fleet.ids(api_key=str(fleet.key["id"])) == mine
    assert fleet.ids(api_key=OTHER_KEY_NAME) == fleet.newest_first("unknown_model")
    assert fleet.ids(api_key=str(fleet.other_key["id"])) == fleet.newest_first("unknown_model")
    assert fleet.ids(api_key="node key") == [] and fleet.ids(api_key="999999") == []


@pytest.mark.parametrize(("status", "names"), [
    ("200", ANSWERED), ("2xx", ANSWERED), ("4xx", ("bad_body", "unknown_model")), ("400", ("bad_body",)),
    ("404", ("unknown_model",)), ("5xx", ("unavailable",)), ("503", ("unavailable",)),
    ("error", ("bad_body", "unknown_model", "unavailable")), ("3xx", ()), ("500", ())])
def test_filters_by_status_code_and_class(fleet: Fleet, status: str, names: tuple[str, ...]) -> None:
    assert fleet.ids(status=status) == fleet.newest_first(*names)


def test_filters_by_time(fleet: Fleet) -> None:
    between = fleet.between.isoformat()
    before, after = ORDER[:ORDER.index("embeddings")], ORDER[ORDER.index("embeddings"):]
    assert fleet.ids(since=between) == fleet.newest_first(*after)
    assert fleet.ids(until=between) == fleet.newest_first(*before)
    assert fleet.ids(since=between.replace("+00:00", "Z"), status="4xx") == fleet.newest_first("bad_body",
                                                                                               "unknown_model")
    first = fleet.get(f"/v0/requests/{fleet.sent['chat'].request_id}").json()["at"]  # to the second
    assert fleet.ids(until=first) == []  # the oldest was made at that second or later: not before it
    assert fleet.ids(since=first) == fleet.newest_first(*ORDER)
    assert fleet.ids(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z") == []


def test_filters_by_request_id_the_routers_or_the_clients(fleet: Fleet) -> None:
    chat = fleet.sent["chat"].request_id
    assert fleet.ids(request_id=chat) == [chat]
    assert fleet.ids(request_id=CLIENT_REQUEST_ID) == [chat]
    stream = fleet.sent["stream"].request_id
    assert fleet.ids(request_id=stream) == [stream]
    assert fleet.ids(request_id="f" * 32) == []


def containing(fleet: Fleet, phrase: str) -> list[str]:
    """The requests whose body or answer (as the client got it) holds `phrase`, newest first."""
    def holds(sent: Sent) -> bool:
        body = sent.body.decode() if isinstance(sent.body, bytes) else json.dumps(sent.body, ensure_ascii=False)
        answer = sent.streamed_text if sent.events else json.dumps(sent.answer, ensure_ascii=False)
        return phrase in body or phrase in answer
    return fleet.newest_first(*(name for name, sent in fleet.sent.items() if holds(sent)))


def test_q_searches_the_bodies_of_every_row_japanese_included(fleet: Fleet) -> None:
    chat = fleet.sent["chat"].request_id
    assert fleet.ids(q=JAPANESE) == containing(fleet, JAPANESE) == [chat]
    assert fleet.ids(q="富士山") == fleet.newest_first("embeddings")  # an embeddings input
    capital = "capital of France"
    assert fleet.ids(q=capital) == containing(fleet, capital)
    assert set(fleet.newest_first("stream", "stream_usage", "unknown_model", "unavailable")) <= set(fleet.ids(q=capital))
    assert fleet.ids(q="one two three") == containing(fleet, "one two three")
    assert fleet.sent["completion"].request_id in fleet.ids(q="one two three")
    assert fleet.ids(q='"model": oops') == fleet.newest_first("bad_body")  # a body that is not JSON
    assert fleet.ids(q="model_not_found") == fleet.newest_first("unknown_model")  # answers are searched too
    streamed = fleet.sent["stream"].streamed_text  # only in the stored (assembled) answers of the streams
    assert fleet.ids(q=streamed) == containing(fleet, streamed)
    assert set(fleet.newest_first("stream", "stream_usage")) <= set(fleet.ids(q=streamed))
    assert fleet.ids(q="nothing anyone sent 日本") == []


def test_q_finds_a_phrase_that_is_only_on_the_last_page(fleet: Fleet) -> None:
    """The oldest request is on the last of the unfiltered pages; the search covers all rows, not a page."""
    chat = fleet.sent["chat"].request_id
    unfiltered = fleet.get("/v0/requests", limit=2).json()
    assert chat not in [row["id"] for row in unfiltered["requests"]]
    found = fleet.get("/v0/requests", limit=2, q=JAPANESE).json()
    assert [row["id"] for row in found["requests"]] == [chat] and found["next_cursor"] is None


def walk(fleet: Fleet, **params: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        response = fleet.get("/v0/requests", limit=2, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([row["id"] for row in page["requests"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) <= len(ORDER), "the cursor does not end"


def test_the_cursor_walks_every_row_once_newest_first(fleet: Fleet) -> None:
    pages = walk(fleet)
    assert [len(page) for page in pages] == [2, 2, 2, 2]
    assert [row for page in pages for row in page] == fleet.newest_first(*ORDER)


def test_the_cursor_keeps_the_filters(fleet: Fleet) -> None:
    pages = walk(fleet, status="2xx")
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [row for page in pages for row in page] == fleet.newest_first(*ANSWERED)
    pages = walk(fleet, api_key=KEY_NAME)
    assert [row for page in pages for row in page] == fleet.newest_first(*(n for n in ORDER if n != "unknown_model"))


def test_the_overview_counts_the_requests_sent(fleet: Fleet) -> None:
    """The overview's figures (from the rollups the writers added to, never the rows) against what was sent."""
    records = [fleet.get(f"/v0/requests/{sent.request_id}").json() for sent in fleet.sent.values()]
    figures = fleet.get("/v0/overview", window="1h").json()
    totals = figures["totals"]
    assert (totals["requests"], totals["errors"], totals["client_errors"]) == (8, 1, 2)  # the 503; the 400, 404
    assert totals["error_rate"] == pytest.approx(1 / 8)
    usage = [record for record in records if record["prompt_tokens"] is not None]
    assert totals["prompt_tokens"] == sum(record["prompt_tokens"] for record in usage)
    assert totals["completion_tokens"] == sum(record["completion_tokens"] or 0 for record in usage)
    answered = sorted(record["duration_ms"] for record in records if record["status"] == 200)
    # Percentiles come from logarithmic bins: within 5% of a recorded duration, between the extremes.
    assert answered[0] * 0.95 <= totals["latency_p50_ms"] <= answered[-1] * 1.05
    assert answered[0] * 0.95 <= totals["latency_p95_ms"] <= answered[-1] * 1.05
    streams = [record["ttft_ms"] for record in records if record["ttft_ms"] is not None]
    assert min(streams) * 0.95 <= totals["ttft_p50_ms"] <= max(streams) * 1.05
    assert totals["tokens_per_second"] > 0
    assert sum(figures["series"]["requests"]) == 8 and sum(figures["series"]["errors"]) == 1
    assert figures["fleet"]["nodes_online"] == 1 and figures["fleet"]["models_ready"] == 2
