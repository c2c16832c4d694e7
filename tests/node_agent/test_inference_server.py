"""The node's /v1 endpoints over real HTTP, on the real tiny models (CTranslate2 and llama.cpp)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from node_agent.inference import EngineManager
from node_agent.server import NodeServer, make_server
from node_agent.store import ModelStore
from tests.support.cluster import wait_for
from tests.support.model_files import install_model
from tests.support.tiny_model import CASE, CT2_DIR, GGUF_DIR

TOKEN = "node-token-for-tests"
CT2_MODEL = "acme/tiny-ct2"
GGUF_MODEL = "acme/tiny-gguf:f16"
ENGINE_MODELS = [CT2_MODEL, GGUF_MODEL]
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeServer, EngineManager]]:
    store = ModelStore(tmp_path_factory.mktemp("models"))
    install_model(store, CT2_MODEL, CT2_DIR)
    install_model(store, GGUF_MODEL, GGUF_DIR)
    engines = EngineManager(store, lambda model_id: store.read_manifest(model_id) is not None,
                            ("ctranslate2", "llama_cpp"), threads=1)
    server = make_server("127.0.0.1", 0, lambda: TOKEN, lambda: {"active_requests": engines.active_requests},
                         lambda: None, engines).start()
    yield server, engines
    server.stop()
    engines.close()


@pytest.fixture(scope="module")
def url(node) -> str:
    return f"http://127.0.0.1:{node[0].port}"


def post(url: str, path: str, body: Any, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{url}{path}", data=data, headers={**headers, "Content-Type": "application/json"},
                         timeout=30, **kwargs)


def events(response: requests.Response) -> list[Any]:
    """The SSE data fields of a stream, JSON-decoded, with "[DONE]" kept as a string."""
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    out = []
    for block in response.content.decode("utf-8").split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            payload = block[len("data: "):]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_inference_needs_the_routers_token(url: str) -> None:
    body = {"model": CT2_MODEL, "messages": CAPITAL}
    assert post(url, "/v1/chat/completions", body, token=None).status_code == 401
    assert post(url, "/v1/chat/completions", body, token="not-it").status_code == 401


@pytest.mark.parametrize("model", ENGINE_MODELS)
def test_chat_completion(url: str, model: str) -> None:
    response = post(url, "/v1/chat/completions", {"model": model, "messages": CAPITAL, "temperature": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == model
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "The capital of France is Paris."}
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] == len(CASE["chat_capital"]["prompt_tokens"])
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize("model", ENGINE_MODELS)
def test_text_completion(url: str, model: str) -> None:
    response = post(url, "/v1/completions", {"model": model, "prompt": "one two three", "temperature": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] == CASE["count"]["expected_text"]
    assert body["usage"]["prompt_tokens"] == len(CASE["count"]["prompt_tokens"])


@pytest.mark.parametrize("model", ENGINE_MODELS)
def test_streamed_chat_with_usage(url: str, model: str) -> None:
    response = post(url, "/v1/chat/completions", {"model": model, "messages": CAPITAL, "temperature": 0,
                                                   "stream": True, "stream_options": {"include_usage": True}})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-cache"
    chunks = events(response)
    assert chunks[-1] == "[DONE]"
    usage_chunk, finish_chunk, content_chunks = chunks[-2], chunks[-3], chunks[:-3]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] > 0
    assert finish_chunk["choices"][0]["finish_reason"] == "stop"
    assert content_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks[:-1])
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in content_chunks)
    assert text == "The capital of France is Paris."
    assert len(content_chunks) > 2  # really streamed, token by token


@pytest.mark.parametrize("model", ENGINE_MODELS)
def test_streamed_completion_without_usage_keeps_unicode_whole(url: str, model: str) -> None:
    response = post(url, "/v1/completions", {"model": model, "prompt": "Unicode test:", "temperature": 0,
                                              "stream": True})
    chunks = events(response)
    assert chunks[-1] == "[DONE]"
    assert all(chunk["choices"] for chunk in chunks[:-1])  # no usage chunk unless asked
    pieces = [chunk["choices"][0]["text"] for chunk in chunks[:-1]]
    assert "".join(pieces) == CASE["unicode"]["expected_text"]
    assert not any("\ufffd" in piece for piece in pieces)


@pytest.mark.parametrize("model", ENGINE_MODELS)
def test_stop_and_max_tokens(url: str, model: str) -> None:
    stopped = post(url, "/v1/completions", {"model": model, "prompt": "one two three", "temperature": 0,
                                            "stop": " seven"}).json()
    assert stopped["choices"][0] == {"index": 0, "text": " four five six", "logprobs": None, "finish_reason": "stop"}
    short = post(url, "/v1/completions", {"model": model, "prompt": "one two three", "temperature": 0,
                                          "max_tokens": 2}).json()
    assert short["choices"][0]["finish_reason"] == "length" and short["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize("model", ENGINE_MODELS)
def test_seeded_sampling_repeats(url: str, model: str) -> None:
    body = {"model": model, "prompt": "alpha", "temperature": 1.5, "seed": 7, "max_tokens": 12}
    first = post(url, "/v1/completions", body).json()["choices"][0]["text"]
    assert post(url, "/v1/completions", body).json()["choices"][0]["text"] == first


def test_concurrent_requests_all_answered_right(url: str) -> None:
    results: list[str] = []

    def ask() -> None:
        body = post(url, "/v1/chat/completions", {"model": CT2_MODEL, "messages": CAPITAL, "temperature": 0}).json()
        results.append(body["choices"][0]["message"]["content"])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["The capital of France is Paris."] * 8


@pytest.mark.parametrize(("body", "param"), [
    (b"{not json", None),
    ([1, 2], None),
    ({"messages": CAPITAL}, "model"),
    ({"model": CT2_MODEL}, "messages"),
    ({"model": CT2_MODEL, "messages": "hello"}, "messages"),
    ({"model": CT2_MODEL, "messages": [{"role": "user", "content": 5}]}, "messages"),
    ({"model": CT2_MODEL, "messages": CAPITAL, "n": 2}, "n"),
    ({"model": CT2_MODEL, "messages": CAPITAL, "temperature": "hot"}, "temperature"),
    ({"model": CT2_MODEL, "messages": CAPITAL, "max_tokens": 0}, "max_tokens"),
    ({"model": CT2_MODEL, "messages": CAPITAL, "stop": [1]}, "stop"),
    ({"model": CT2_MODEL, "messages": CAPITAL, "stream": "yes"}, "stream"),
])
def test_bad_requests_are_400_with_the_field(url: str, body: Any, param: str | None) -> None:
    response = post(url, "/v1/chat/completions", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_a_bad_role_is_a_400_naming_it(url: str) -> None:
    """The full role table is tests/node_agent/test_openai_api.py's; here, that the server answers its refusal."""
    for role in ("wizard", "tool"):
        response = post(url, "/v1/chat/completions", {"model": CT2_MODEL, "messages": [{"role": role, "content": "x"}]})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", "messages[0].role")
        assert "role" in error["message"]


def test_unknown_model_is_404(url: str) -> None:
    response = post(url, "/v1/chat/completions", {"model": "acme/nothing", "messages": CAPITAL})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_embeddings_on_a_generator_model_is_refused(url: str) -> None:
    response = post(url, "/v1/embeddings", {"model": CT2_MODEL, "input": "hello"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_request"


def test_embeddings_with_llama_cpp(url: str) -> None:
    response = post(url, "/v1/embeddings", {"model": GGUF_MODEL, "input": ["one two", "alpha beta"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["index"] for item in body["data"]] == [0, 1]
    first, second = (item["embedding"] for item in body["data"])
    assert len(first) == len(second) == 64 and first != second  # the tiny model's hidden size
    assert abs(sum(x * x for x in first) - 1) < 1e-4
    assert body["usage"]["prompt_tokens"] > 0


def test_the_request_count_does_not_leak(node, url: str) -> None:
    """Finished, failed and abandoned requests all leave the count (the router balances on it)."""
    _server, engines = node
    post(url, "/v1/completions", {"model": CT2_MODEL, "prompt": "one", "max_tokens": 3})
    post(url, "/v1/completions", {"model": CT2_MODEL, "prompt": 5})
    post(url, "/v1/completions", {"model": "acme/nothing", "prompt": "one"})
    response = post(url, "/v1/completions", {"model": CT2_MODEL, "prompt": "one", "stream": True}, stream=True)
    next(response.iter_content(1))
    response.close()
    wait_for(lambda: engines.active_requests == 0, 10, "every request to end")
