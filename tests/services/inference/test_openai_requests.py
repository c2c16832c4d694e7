"""Cheap checks of OpenAI request bodies (app/services/inference/openai_requests.py): each refusal is a
400 naming the parameter at fault. (Message roles have their own table, tests/support/chat_roles.py.)"""

from __future__ import annotations

import json

import pytest

from app.errors import ApiError
from app.services.inference.openai_requests import InferenceRequest, parse

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
COMPLETION = {"model": "m", "prompt": "Once"}
EMBEDDING = {"model": "m", "input": "text"}


def body(base: dict, **changes) -> bytes:
    return json.dumps({**base, **changes}).encode()


def refusal(kind: str, raw: bytes) -> tuple[int, str, str | None]:
    with pytest.raises(ApiError) as caught:
        parse(kind, raw)
    return caught.value.status, caught.value.code, caught.value.param


def test_what_passes_and_what_the_router_keeps():
    assert parse("chat", body(CHAT, stream=True, stream_options={"include_usage": True})) == \
        InferenceRequest("chat", "m", True)
    assert parse("completions", body(COMPLETION, prompt=[[1, 2], [3]], best_of=1, echo=False)) == \
        InferenceRequest("completions", "m", False)
    assert parse("embeddings", body(EMBEDDING, stream=True)) == InferenceRequest("embeddings", "m", False)
    assert parse("embeddings", body(EMBEDDING, input=[[1, 2], [3]], encoding_format="base64")).kind == "embeddings"
    neutral = body(CHAT, tools=[], tool_choice="none", response_format={"type": "text"}, logprobs=False,
                   logit_bias={}, n=1, unknown_field={"left": "alone"})
    assert parse("chat", neutral).model == "m"


@pytest.mark.parametrize("raw, code", [
    (b"{", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b"[" * 100_000, "invalid_json"),
    (b"[]", "invalid_body"),
    (b'"chat"', "invalid_body"),
])
def test_bodies_that_are_no_json_object(raw, code):
    assert refusal("chat", raw) == (400, code, None)


@pytest.mark.parametrize("kind, raw, code", [
    ("chat", json.dumps({"messages": CHAT["messages"]}).encode(), "missing_required_parameter"),
    ("chat", body(CHAT, model=None), "missing_required_parameter"),
    ("completions", body(COMPLETION, model=""), "invalid_type"),
    ("embeddings", body(EMBEDDING, model="   "), "invalid_type"),
    ("chat", body(CHAT, model=["m"]), "invalid_type"),
    ("chat", b'{"model": "m\\ud800", "messages": [{"role": "user", "content": "Hi"}]}', "invalid_value"),
])
def test_model(kind, raw, code):
    assert refusal(kind, raw) == (400, code, "model")


@pytest.mark.parametrize("changes, code, param", [
    ({"stream": "yes"}, "invalid_type", "stream"),
    ({"stream": 1}, "invalid_type", "stream"),
    ({"stream_options": {"include_usage": True}}, "invalid_value", "stream_options"),
    ({"stream": True, "stream_options": "usage"}, "invalid_type", "stream_options"),
    ({"stream": True, "stream_options": {"include_usage": "yes"}}, "invalid_type", "stream_options.include_usage"),
    ({"max_tokens": 0}, "invalid_value", "max_tokens"),
    ({"max_tokens": 1.5}, "invalid_value", "max_tokens"),
    ({"max_tokens": True}, "invalid_value", "max_tokens"),
    ({"max_completion_tokens": -1}, "invalid_value", "max_completion_tokens"),
    ({"n": 2}, "invalid_value", "n"),
    ({"temperature": "hot"}, "invalid_type", "temperature"),
    ({"seed": 1.5}, "invalid_type", "seed"),
    ({"stop": ["a", 1]}, "invalid_type", "stop"),
    ({"tools": [{"type": "function"}]}, "unsupported_parameter", "tools"),
    ({"response_format": {"type": "json_object"}}, "unsupported_parameter", "response_format"),
    ({"top_logprobs": 2}, "unsupported_parameter", "top_logprobs"),
])
def test_chat_fields(changes, code, param):
    assert refusal("chat", body(CHAT, **changes)) == (400, code, param)


@pytest.mark.parametrize("changes, code, param", [
    ({"prompt": None}, "missing_required_parameter", "prompt"),
    ({"prompt": []}, "invalid_type", "prompt"),
    ({"prompt": [1, "a"]}, "invalid_type", "prompt"),
    ({"echo": True}, "unsupported_parameter", "echo"),
    ({"best_of": 2}, "unsupported_parameter", "best_of"),
    ({"max_tokens": 0}, "invalid_value", "max_tokens"),
])
def test_completion_fields(changes, code, param):
    assert refusal("completions", body(COMPLETION, **changes)) == (400, code, param)


def test_max_completion_tokens_is_a_chat_parameter_only():
    assert parse("completions", body(COMPLETION, max_completion_tokens=0)).kind == "completions"


@pytest.mark.parametrize("changes, code, param", [
    ({"input": None}, "missing_required_parameter", "input"),
    ({"input": ""}, "invalid_type", "input"),
    ({"input": []}, "invalid_type", "input"),
    ({"input": ["a", ""]}, "invalid_type", "input"),
    ({"input": [[]]}, "invalid_type", "input"),
    ({"input": {"text": "a"}}, "invalid_type", "input"),
    ({"encoding_format": "int8"}, "invalid_value", "encoding_format"),
])
def test_embedding_fields(changes, code, param):
    assert refusal("embeddings", body(EMBEDDING, **changes)) == (400, code, param)
