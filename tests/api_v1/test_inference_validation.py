"""Malformed inference requests: 400 `invalid_request_error` naming the field, before any node is asked."""

from __future__ import annotations

import json

import pytest

from tests.support.inference import MODEL, add_node

USER = [{"role": "user", "content": "Hello"}]

# (path, body, param, code); a body given as str is sent as is.
CASES = [
    ("/v1/chat/completions", "{not json", None, "invalid_json"),
    ("/v1/chat/completions", "", None, "invalid_json"),
    ("/v1/chat/completions", "\xff\xfe", None, "invalid_json"),
    ("/v1/chat/completions", "[1, 2]", None, "invalid_body"),
    ("/v1/completions", '"a prompt"', None, "invalid_body"),
    ("/v1/chat/completions", {"messages": USER}, "model", "missing_required_parameter"),
    ("/v1/chat/completions", {"model": 7, "messages": USER}, "model", "invalid_type"),
    ("/v1/chat/completions", {"model": " ", "messages": USER}, "model", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL}, "messages", "missing_required_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": []}, "messages", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": "Hello"}, "messages", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": ["Hello"]}, "messages[0]", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role",
     "invalid_value"),
    ("/v1/chat/completions", {"model": MODEL, "messages": [*USER, {"role": "user", "content": 5}]},
     "messages[1].content", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "n": 2}, "n", "invalid_value"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "n": True}, "n", "invalid_value"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "stream": "yes"}, "stream", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "stream_options": {"include_usage": True}},
     "stream_options", "invalid_value"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "stream": True, "stream_options": "usage"},
     "stream_options", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "stream": True,
                              "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage",
     "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "max_tokens": 0}, "max_tokens", "invalid_value"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "max_completion_tokens": "9"},
     "max_completion_tokens", "invalid_value"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "temperature": "hot"}, "temperature",
     "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "seed": 1.5}, "seed", "invalid_type"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "stop": ["a", 1]}, "stop", "invalid_type"),
    ("/v1/completions", {"model": MODEL}, "prompt", "missing_required_parameter"),
    ("/v1/completions", {"model": MODEL, "prompt": 42}, "prompt", "invalid_type"),
    ("/v1/completions", {"model": MODEL, "prompt": []}, "prompt", "invalid_type"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "max_tokens": -1}, "max_tokens", "invalid_value"),
    ("/v1/embeddings", {"model": MODEL}, "input", "missing_required_parameter"),
    ("/v1/embeddings", {"model": MODEL, "input": ""}, "input", "invalid_type"),
    ("/v1/embeddings", {"model": MODEL, "input": ["a", ""]}, "input", "invalid_type"),
    ("/v1/embeddings", {"model": MODEL, "input": {"text": "a"}}, "input", "invalid_type"),
    ("/v1/embeddings", {"model": MODEL, "input": "a", "encoding_format": "int8"}, "encoding_format",
     "invalid_value"),
    ("/v1/embeddings", {"input": "a"}, "model", "missing_required_parameter"),
    # Kinds of answer the engines cannot give: refused, never answered as plain text.
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "tools": [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object"}}}]}, "tools", "unsupported_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "tools": [{"type": "function"}],
                              "tool_choice": "required"}, "tools", "unsupported_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "functions": [{"name": "f"}]}, "functions",
     "unsupported_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "response_format": {"type": "json_object"}},
     "response_format", "unsupported_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}, "response_format",
     "unsupported_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "logprobs": True}, "logprobs",
     "unsupported_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "top_logprobs": 3}, "top_logprobs",
     "unsupported_parameter"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "logit_bias": {"50256": -100}}, "logit_bias",
     "unsupported_parameter"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "logprobs": 2}, "logprobs", "unsupported_parameter"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "echo": True}, "echo", "unsupported_parameter"),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "best_of": 3}, "best_of", "unsupported_parameter"),
]


@pytest.mark.parametrize(("path", "body", "param", "code"), CASES,
                         ids=[f"{case[0]} {case[3]} {case[2]}" for case in CASES])
def test_malformed_body_is_400_naming_the_field(api_client, imitations, path, body, param, code):
    app, client = api_client()
    node = imitations("node")
    add_node(app, node)
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post(path, data=data.encode("latin-1") if isinstance(body, str) else data,
                           content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert error["message"]
    assert node.requests == [], "a malformed request must not reach a node"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "developer", "content": "Be brief."},
                                                           {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                                                           {"role": "assistant", "content": None}],
                              "n": 1, "stream": False, "temperature": 0, "top_p": 1, "top_k": 5, "seed": 3,
                              "stop": "x", "max_completion_tokens": 4, "user": "someone", "logit_bias": {}}),
    # The neutral values of unsupported features, which many clients always send.
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "tools": [], "response_format": {"type": "text"},
                              "logprobs": False, "top_logprobs": 0, "parallel_tool_calls": False}),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "tools": [{"type": "function", "function": {
        "name": "f"}}], "tool_choice": "none"}),
    ("/v1/completions", {"model": MODEL, "prompt": "x", "echo": False, "best_of": 1, "logprobs": None}),
    ("/v1/completions", {"model": MODEL, "prompt": ["one", "two"], "max_tokens": 3, "stop": ["."]}),
    ("/v1/completions", {"model": MODEL, "prompt": [1, 2, 3]}),
    ("/v1/embeddings", {"model": MODEL, "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}),
])
def test_well_formed_bodies_reach_the_node_unchanged(api_client, imitations, path, body):
    """What the router cannot judge (unknown fields, token-id prompts, prompt lists) is the node's call."""
    app, client = api_client()
    node = imitations("node")
    add_node(app, node)
    response = client.post(path, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert node.requests[-1].body == body


def test_wrong_method_uses_the_envelope(api_client):
    _app, client = api_client()
    response = client.get("/v1/chat/completions")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_too_large_body_is_413(api_client):
    _app, client = api_client(INFERENCE_MAX_BODY_BYTES=1000)
    assert client.post("/v1/completions", json={"model": MODEL, "prompt": "x" * 900}).status_code == 503
    response = client.post("/v1/completions", json={"model": MODEL, "prompt": "x" * 1000})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_too_large"
