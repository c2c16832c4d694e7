"""The OpenAI shapes the provider translations share (app/services/inference/providers/openai_shapes.py)."""

from __future__ import annotations

import pytest

from app.errors import ApiError
from app.services.inference.providers import openai_shapes


def test_a_completion_has_one_choice_named_after_the_asked_model():
    message = {"role": "assistant", "content": "hi"}
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert openai_shapes.completion("id1", 7, "anthropic:m", message, "stop", usage) == {
        "id": "id1", "object": "chat.completion", "created": 7, "model": "anthropic:m",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}], "usage": usage}


def test_chunks_and_the_usage_chunk_without_choices():
    assert openai_shapes.chunk("id1", 7, "m", {"content": "a"}) == {
        "id": "id1", "object": "chat.completion.chunk", "created": 7, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
    assert openai_shapes.chunk("id1", 7, "m", {}, "length")["choices"][0]["finish_reason"] == "length"
    last = openai_shapes.usage_chunk("id1", 7, "m", {"prompt_tokens": 1})
    assert last["choices"] == [] and last["usage"] == {"prompt_tokens": 1}


def test_an_error_frame_is_the_openai_envelope():
    assert openai_shapes.error_frame("server_error", "provider_error", "overloaded") == {
        "error": {"message": "overloaded", "type": "server_error", "param": None, "code": "provider_error"}}


@pytest.mark.parametrize(("arguments", "text"), [(None, "{}"), ({}, "{}"), ({"city": "東京"}, '{"city": "東京"}')])
def test_arguments_as_text_are_never_empty(arguments, text):
    assert openai_shapes.arguments_text(arguments) == text


@pytest.mark.parametrize(("arguments", "parsed"), [(None, {}), ("", {}), ("  ", {}), ('{"a": 1}', {"a": 1})])
def test_arguments_as_an_object(arguments, parsed):
    assert openai_shapes.arguments_object(arguments, "p") == parsed


@pytest.mark.parametrize("arguments", ["[1]", "not json", '"text"', 3, {"a": 1}])
def test_arguments_that_are_not_a_json_object_in_a_string_are_refused(app, arguments):
    with app.test_request_context(), pytest.raises(ApiError) as refused:
        openai_shapes.arguments_object(arguments, "messages[1].tool_calls[0].function.arguments")
    assert (refused.value.status, refused.value.param) == (400, "messages[1].tool_calls[0].function.arguments")
