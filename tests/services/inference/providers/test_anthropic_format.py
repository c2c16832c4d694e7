"""Anthropic Messages <-> OpenAI chat (app/services/inference/providers/anthropic_format.py): requests, answers
and stream events, with each failure issue 13 lists for other routers (tool-call index, empty arguments,
the usage chunk's empty choices, tool_calls as the streamed finish, cached tokens counted once)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.errors import ApiError
from app.services.inference.providers.anthropic_format import (StreamTranslator, stream_error, to_chat_completion,
                                                                to_messages_request)

MODEL = "anthropic:claude-sonnet-4-5"
CREATED = 1_760_000_000
USER = {"role": "user", "content": "Hi"}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def request(**fields: Any) -> dict[str, Any]:
    return to_messages_request({"model": MODEL, "messages": [USER], **fields}, "claude-sonnet-4-5", None)


def refusal(app, body: dict[str, Any]) -> tuple[int, str, str | None, str]:
    with app.app_context(), pytest.raises(ApiError) as caught:
        to_messages_request(body, "claude-sonnet-4-5", None)
    return caught.value.status, caught.value.code, caught.value.param, caught.value.message


# --- requests ----------------------------------------------------------------------------------------------------

def test_a_plain_request():
    assert request() == {"model": "claude-sonnet-4-5", "max_tokens": 4096,
                         "messages": [{"role": "user", "content": "Hi"}]}


def test_system_and_developer_messages_become_the_system_prompt():
    body = {"messages": [{"role": "system", "content": "Be brief."}, USER,
                         {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]}]}
    converted = to_messages_request(body, "claude-haiku-4-5", None)
    assert converted["system"] == "Be brief.\n\nAnswer in French."
    assert converted["messages"] == [{"role": "user", "content": "Hi"}]
    assert "system" not in request()


@pytest.mark.parametrize("fields, output_limit, expected", [
    ({}, None, 4096),
    ({}, 64_000, 64_000),
    ({"max_tokens": 100}, 64_000, 100),
    ({"max_completion_tokens": 200}, 64_000, 200),
    ({"max_tokens": 100, "max_completion_tokens": 200}, None, 200),
])
def test_max_tokens_is_always_sent(fields, output_limit, expected):
    body = {"messages": [USER], **fields}
    assert to_messages_request(body, "claude-sonnet-4-5", output_limit)["max_tokens"] == expected


def test_sampling_stop_stream_and_user_are_carried_over():
    converted = request(temperature=0.2, top_p=0.9, stop="END", stream=True, user="u-42",
                        stream_options={"include_usage": True}, presence_penalty=0.5)
    assert converted["temperature"] == 0.2 and converted["top_p"] == 0.9
    assert converted["stop_sequences"] == ["END"]
    assert converted["stream"] is True
    assert converted["metadata"] == {"user_id": "u-42"}
    assert not {"stream_options", "presence_penalty", "stop", "user"} & converted.keys()
    assert request(stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    assert "stop_sequences" not in request(stop=[])
    assert "stream" not in request(stream=False)
    assert request(temperature=0)["temperature"] == 0


def test_tools_and_each_tool_choice():
    converted = request(tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}])
    assert converted["tools"] == [
        {"name": "weather", "description": "Weather in a city", "input_schema": WEATHER_TOOL["function"]["parameters"]},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}}]
    assert "tool_choice" not in converted
    choices = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    for choice, expected in choices.items():
        assert request(tools=[WEATHER_TOOL], tool_choice=choice)["tool_choice"] == expected
    named = {"type": "function", "function": {"name": "weather"}}
    assert request(tools=[WEATHER_TOOL], tool_choice=named)["tool_choice"] == {"type": "tool", "name": "weather"}


def test_parallel_tool_calls_false_disables_parallel_tool_use():
    assert request(tools=[WEATHER_TOOL], parallel_tool_calls=False)["tool_choice"] == \
        {"type": "auto", "disable_parallel_tool_use": True}
    assert request(tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=False)["tool_choice"] == \
        {"type": "any", "disable_parallel_tool_use": True}
    assert request(tools=[WEATHER_TOOL], tool_choice="none", parallel_tool_calls=False)["tool_choice"] == \
        {"type": "none"}


def test_no_tools_sends_neither_tools_nor_tool_choice():
    converted = request(tools=[], tool_choice="none")
    assert "tools" not in converted and "tool_choice" not in converted


def test_a_tool_round_trip_becomes_tool_use_and_merged_tool_results():
    messages = [
        USER,
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "now", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18 °C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "12:00"}]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    converted = to_messages_request({"messages": messages, "tools": [WEATHER_TOOL]}, "claude-sonnet-4-5", None)
    assert converted["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 °C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "12:00"}]},
            {"type": "text", "text": "And tomorrow?"}]},
    ]


def test_assistant_text_beside_tool_calls_is_kept_first():
    messages = [USER, {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}]}]
    assert to_messages_request({"messages": messages}, "m", None)["messages"][1]["content"] == [
        {"type": "text", "text": "Let me look."}, {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}]


def test_consecutive_turns_of_one_role_are_merged():
    messages = [{"role": "user", "content": "One"}, {"role": "user", "content": [{"type": "text", "text": "Two"}]},
                {"role": "assistant", "content": "A"}, {"role": "system", "content": "S"},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}]
    converted = to_messages_request({"messages": messages}, "m", None)
    assert converted["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "One"}, {"type": "text", "text": "Two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "No."}]}]
    assert converted["system"] == "S"


def test_images_data_urls_become_base64_and_web_urls_url_sources():
    content = [{"type": "text", "text": "Compare"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
               {"type": "image_url", "image_url": "https://example.com/cat.jpg"}]
    converted = to_messages_request({"messages": [{"role": "user", "content": content}]}, "m", None)
    assert converted["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]


@pytest.mark.parametrize("body, code, param", [
    ({"messages": []}, "invalid_type", "messages"),
    ({"messages": ["Hi"]}, "invalid_type", "messages[0]"),
    ({"messages": [{"role": "function", "content": "x"}]}, "invalid_value", "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "invalid_type", "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "invalid_value",
     "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "missing_required_parameter",
     "messages[0].content[0].text"),
    ({"messages": [USER, {"role": "assistant", "tool_calls": {"id": "t"}}]}, "invalid_type", "messages[1].tool_calls"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://h/a.png"}}]}]},
     "invalid_value", "messages[0].content[0].image_url.url"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png,abc"}]}]},
     "invalid_value", "messages[0].content[0].image_url"),
    ({"messages": [{"role": "tool", "content": "18 °C"}]}, "missing_required_parameter",
     "messages[0].tool_call_id"),
    ({"messages": [USER, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]},
     "missing_required_parameter", "messages[1].tool_calls[0].id"),
    ({"messages": [USER, {"role": "assistant", "tool_calls": [{"id": "t", "function": {"arguments": "{}"}}]}]},
     "missing_required_parameter", "messages[1].tool_calls[0].function.name"),
    ({"messages": [USER], "max_tokens": 0}, "invalid_value", "max_tokens"),
    ({"messages": [USER], "stop": [1]}, "invalid_type", "stop"),
    ({"messages": [USER], "tools": {"weather": {}}}, "invalid_type", "tools"),
    ({"messages": [USER], "tools": [{"type": "web_search"}]}, "invalid_type", "tools[0]"),
    ({"messages": [USER], "tools": [{"type": "function", "function": {}}]}, "missing_required_parameter",
     "tools[0].function.name"),
    ({"messages": [USER], "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
     "invalid_type", "tools[0].function.parameters"),
    ({"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": "any"}, "invalid_value", "tool_choice"),
])
def test_client_mistakes_are_400s_naming_the_parameter(app, body, code, param):
    status, got_code, got_param, message = refusal(app, body)
    assert (status, got_code, got_param) == (400, code, param)
    assert param in message


@pytest.mark.parametrize("arguments", ['{"city": ', "[1, 2]", '"Paris"', "null"])
def test_tool_call_arguments_that_are_no_json_object_are_refused(app, arguments):
    call = {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": arguments}}
    body = {"messages": [USER, {"role": "assistant", "content": None, "tool_calls": [call]}]}
    status, code, param, message = refusal(app, body)
    assert (status, code, param) == (400, "invalid_value", "messages[1].tool_calls[0].function.arguments")
    assert "JSON object" in message


# --- answers -----------------------------------------------------------------------------------------------------

def answer(content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5, **usage}}


def test_a_text_answer():
    completion = to_chat_completion(answer([{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}]),
                                    MODEL, CREATED)
    assert completion == {
        "id": "msg_01", "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there", "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 0}}}


def test_tool_calls_with_json_arguments_and_empty_ones_as_an_empty_object():
    blocks = [{"type": "thinking", "thinking": "…", "signature": "s"},
              {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Zürich"}},
              {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}]
    completion = to_chat_completion(answer(blocks, "tool_use"), MODEL, CREATED)
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Zürich"}'}},
        {"id": "toolu_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}]
    for call in choice["message"]["tool_calls"]:
        assert isinstance(json.loads(call["function"]["arguments"]), dict)


@pytest.mark.parametrize("stop_reason, expected", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"), ("pause_turn", "stop"), (None, "stop"),
])
def test_every_stop_reason(stop_reason, expected):
    completion = to_chat_completion(answer([{"type": "text", "text": "x"}], stop_reason), MODEL, CREATED)
    assert completion["choices"][0]["finish_reason"] == expected


def test_cached_tokens_count_once_in_the_prompt():
    completion = to_chat_completion(answer([{"type": "text", "text": "x"}], cache_read_input_tokens=1000,
                                           cache_creation_input_tokens=200), MODEL, CREATED)
    assert completion["usage"] == {"prompt_tokens": 1210, "completion_tokens": 5, "total_tokens": 1215,
                                   "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 200}}


def test_an_empty_answer_has_empty_content_and_an_id_when_anthropic_gave_none():
    message = {"content": [], "stop_reason": "end_turn", "usage": None}
    completion = to_chat_completion(message, MODEL, CREATED, make_id=lambda: "chatcmpl-fixed")
    assert completion["id"] == "chatcmpl-fixed"
    assert completion["choices"][0]["message"]["content"] == ""
    assert completion["usage"]["total_tokens"] == 0


# --- streams -----------------------------------------------------------------------------------------------------

# A recorded-style stream: text, then two tool calls (the second without arguments), cache use in the usage.
EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 25, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 40,
                  "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Checking"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": " now."}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_A", "name": "weather", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": '{"city": '}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("content_block_start", {"type": "content_block_start", "index": 2, "content_block": {
        "type": "tool_use", "id": "toolu_B", "name": "now", "input": {}}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                       "usage": {"output_tokens": 42}}),
    ("message_stop", {"type": "message_stop"}),
]
# The same answer, not streamed.
MESSAGE = {"id": "msg_02", "content": [
    {"type": "text", "text": "Checking now."},
    {"type": "tool_use", "id": "toolu_A", "name": "weather", "input": {"city": "Paris"}},
    {"type": "tool_use", "id": "toolu_B", "name": "now", "input": {}}], "stop_reason": "tool_use",
    "usage": {"input_tokens": 25, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 40,
              "output_tokens": 42}}


def translate(events: list[tuple[str, dict[str, Any]]], include_usage: bool = True) \
        -> tuple[StreamTranslator, list[dict[str, Any]]]:
    translator = StreamTranslator(MODEL, include_usage, CREATED)
    return translator, [chunk for event, data in events for chunk in translator.feed(event, data)]


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What an OpenAI client builds from the chunks: text, tool calls by index, finish reason, usage."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        usage = chunk.get("usage", usage)
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            finish = choice["finish_reason"] or finish
            for call in choice["delta"].get("tool_calls", []):
                entry = calls.setdefault(call["index"], {"id": None, "type": "function",
                                                         "function": {"name": None, "arguments": ""}})
                entry["id"] = call.get("id") or entry["id"]
                entry["function"]["name"] = call.get("function", {}).get("name") or entry["function"]["name"]
                entry["function"]["arguments"] += call.get("function", {}).get("arguments", "")
    return {"content": text, "tool_calls": [calls[index] for index in sorted(calls)], "finish_reason": finish,
            "usage": usage}


def test_a_full_stream_chunk_by_chunk():
    translator, chunks = translate(EVENTS)
    assert all(chunk["id"] == "msg_02" and chunk["object"] == "chat.completion.chunk" and chunk["model"] == MODEL
               and chunk["created"] == CREATED for chunk in chunks)
    deltas = [(chunk["choices"][0]["delta"], chunk["choices"][0]["finish_reason"]) for chunk in chunks[:-1]]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Checking"}, None),
        ({"content": " now."}, None),
        ({"tool_calls": [{"index": 0, "id": "toolu_A", "type": "function",
                          "function": {"name": "weather", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, None),
        ({"tool_calls": [{"index": 1, "id": "toolu_B", "type": "function",
                          "function": {"name": "now", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        ({}, "tool_calls"),
    ]
    assert all("usage" not in chunk for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == translator.usage == {
        "prompt_tokens": 165, "completion_tokens": 42, "total_tokens": 207,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 40}}
    assert translator.finish_reason == "tool_calls"


def test_every_tool_call_delta_carries_its_index():
    _translator, chunks = translate(EVENTS)
    calls = [call for chunk in chunks for choice in chunk["choices"] for call in choice["delta"].get("tool_calls", [])]
    assert len(calls) == 5 and all(isinstance(call["index"], int) for call in calls)


def test_streamed_and_not_streamed_give_the_same_answer():
    _translator, chunks = translate(EVENTS)
    streamed = assemble(chunks)
    whole = to_chat_completion(MESSAGE, MODEL, CREATED)
    choice = whole["choices"][0]
    assert streamed == {"content": choice["message"]["content"], "tool_calls": choice["message"]["tool_calls"],
                        "finish_reason": choice["finish_reason"], "usage": whole["usage"]}
    assert streamed["finish_reason"] == "tool_calls"
    assert [json.loads(call["function"]["arguments"]) for call in streamed["tool_calls"]] == [{"city": "Paris"}, {}]


def test_without_include_usage_no_usage_chunk_but_the_usage_is_known():
    translator, chunks = translate(EVENTS, include_usage=False)
    assert all(chunk["choices"] and "usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage["total_tokens"] == 207


def test_tool_call_indexes_count_tool_calls_not_anthropic_blocks():
    events = [EVENTS[0],
              ("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
              ("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm"}}),
              ("content_block_stop", {"index": 0}),
              ("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
              ("content_block_stop", {"index": 1}),
              ("content_block_start", {"index": 2, "content_block": {"type": "tool_use", "id": "t", "name": "f",
                                                                     "input": {}}}),
              ("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
              ("content_block_stop", {"index": 2})]
    _translator, chunks = translate(events)
    calls = [call for chunk in chunks for call in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert [call["index"] for call in calls] == [0, 0]
    assert [chunk["choices"][0]["delta"] for chunk in chunks[1:]] == [
        {"tool_calls": [{"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}]


@pytest.mark.parametrize("stop_reason, expected", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"),
])
def test_every_stop_reason_streamed(stop_reason, expected):
    events = [EVENTS[0], ("message_delta", {"delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 3}}),
              ("message_stop", {})]
    translator, chunks = translate(events)
    assert chunks[1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": expected}]
    assert chunks[2]["choices"] == [] and chunks[2]["usage"]["completion_tokens"] == 3
    assert len(chunks) == 3 and translator.finish_reason == expected


def test_a_stream_without_a_stop_reason_still_finishes():
    _translator, chunks = translate([EVENTS[0], ("message_stop", {})], include_usage=False)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_message_delta_usage_updates_only_what_it_tells():
    events = [EVENTS[0], ("message_delta", {"delta": {"stop_reason": "end_turn"},
                                            "usage": {"output_tokens": 9, "input_tokens": None,
                                                      "cache_read_input_tokens": 100}})]
    translator, _chunks = translate(events)
    assert translator.usage == {"prompt_tokens": 165, "completion_tokens": 9, "total_tokens": 174,
                                "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 40}}


def test_ping_and_unknown_events_give_nothing():
    translator = StreamTranslator(MODEL, True, CREATED)
    assert translator.usage is None
    assert translator.feed("ping", {"type": "ping"}) == []
    assert translator.feed("something_new", {}) == []


def test_an_error_event_ends_the_stream_with_an_openai_error():
    translator, chunks = translate(EVENTS[:4] + [
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})] + EVENTS[4:])
    assert chunks[-1] == {"error": {"message": "Overloaded", "type": "server_error", "param": None,
                                    "code": "provider_overloaded"}}
    assert [chunk["choices"][0]["delta"] for chunk in chunks[:-1]] == [{"role": "assistant", "content": ""},
                                                                       {"content": "Checking"}]
    assert translator.feed("message_stop", {}) == []


@pytest.mark.parametrize("error, expected", [
    ({"type": "rate_limit_error", "message": "Slow down"}, ("Slow down", "rate_limit_error", "rate_limit_exceeded")),
    ({"type": "api_error", "message": "Internal"}, ("Internal", "server_error", "provider_error")),
    ({"type": "authentication_error", "message": "bad key"}, ("bad key", "server_error", "provider_auth_failed")),
    ({"type": "invalid_request_error", "message": "too long"},
     ("too long", "invalid_request_error", "invalid_request_error")),
    ({"type": "brand_new_error"}, ("brand_new_error", "server_error", "provider_error")),
    (None, ("api_error", "server_error", "provider_error")),
])
def test_stream_error_types(error, expected):
    envelope = stream_error(error)["error"]
    assert (envelope["message"], envelope["type"], envelope["code"]) == expected
    assert envelope["param"] is None
