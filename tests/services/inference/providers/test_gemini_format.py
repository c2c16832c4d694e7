"""Gemini generateContent / streamGenerateContent / batchEmbedContents <-> OpenAI, including the failures peers
ship: stream tool calls without `index`, empty arguments, a usage chunk with choices, `stop` for a tool call,
MALFORMED_FUNCTION_CALL as `stop`, cached tokens counted twice."""

from __future__ import annotations

import base64
import itertools
import json
import struct
from collections.abc import Callable

import pytest

from app.errors import ApiError
from app.services.inference.providers.gemini_format import (
    StreamTranslator, to_chat_completion, to_embed_request, to_embeddings_response, to_generate_content_request,
)

MODEL = "google:gemini-2.5-flash"
CREATED = 1_700_000_000
PNG = "iVBORw0KGgo="


@pytest.fixture(autouse=True)
def _app_context(app):
    """Client mistakes raise ApiError with translated sentences, which need an app."""
    with app.app_context():
        yield


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"call_{next(counter)}"


def request_for(messages: list[dict], **fields) -> dict:
    return to_generate_content_request({"model": MODEL, "messages": messages, **fields})


def refused(body: dict) -> ApiError:
    with pytest.raises(ApiError) as caught:
        to_generate_content_request({"model": MODEL, **body})
    assert caught.value.status == 400
    return caught.value


def candidate(parts: list[dict], finish: str | None = "STOP", **extra) -> dict:
    answer = {"content": {"role": "model", "parts": parts}, "index": 0, **extra}
    if finish:
        answer["finishReason"] = finish
    return answer


def answer(*candidates: dict, **extra) -> dict:
    return {"candidates": list(candidates), "modelVersion": "gemini-2.5-flash", "responseId": "resp1", **extra}


USAGE = {"promptTokenCount": 120, "cachedContentTokenCount": 100, "candidatesTokenCount": 7,
         "thoughtsTokenCount": 5, "totalTokenCount": 132}
OPENAI_USAGE = {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132,
                "prompt_tokens_details": {"cached_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 5}}

# --- requests ------------------------------------------------------------------------------------------------


def test_roles_become_user_and_model_and_system_messages_go_into_the_system_instruction():
    request = request_for([
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": [{"type": "text", "text": "How"}, {"type": "text", "text": "are you?"}]},
    ])
    assert request == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]},
                     {"role": "model", "parts": [{"text": "Bonjour"}]},
                     {"role": "user", "parts": [{"text": "How"}, {"text": "are you?"}]}],
    }


def test_consecutive_turns_of_one_role_are_merged():
    request = request_for([{"role": "user", "content": "one"}, {"role": "user", "content": "two"}])
    assert request["contents"] == [{"role": "user", "parts": [{"text": "one"}, {"text": "two"}]}]


def test_sampling_parameters_go_into_the_generation_config():
    request = request_for([{"role": "user", "content": "Hi"}], temperature=0.2, top_p=0.9, top_k=40,
                          max_tokens=50, stop="END", seed=7, presence_penalty=0.5, frequency_penalty=0.25, n=1,
                          stream=True, stream_options={"include_usage": True})
    assert request["generationConfig"] == {
        "temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 50, "stopSequences": ["END"], "seed": 7,
        "presencePenalty": 0.5, "frequencyPenalty": 0.25,
    }


def test_max_completion_tokens_wins_and_a_stop_list_is_kept():
    request = request_for([{"role": "user", "content": "Hi"}], max_tokens=50, max_completion_tokens=80,
                          stop=["a", "b"])
    assert request["generationConfig"] == {"maxOutputTokens": 80, "stopSequences": ["a", "b"]}


def test_a_plain_request_has_no_generation_config():
    assert "generationConfig" not in request_for([{"role": "user", "content": "Hi"}])


def test_several_choices_are_refused_since_only_the_first_candidate_is_translated():
    error = refused({"messages": [{"role": "user", "content": "Hi"}], "n": 2})
    assert (error.code, error.param) == ("invalid_value", "n")


def test_json_object_asks_for_json():
    request = request_for([{"role": "user", "content": "Hi"}], response_format={"type": "json_object"})
    assert request["generationConfig"] == {"responseMimeType": "application/json"}
    plain = request_for([{"role": "user", "content": "Hi"}], response_format={"type": "text"})
    assert "generationConfig" not in plain


def test_a_strict_json_schema_becomes_a_gemini_response_schema():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Name"},
            "note": {"type": ["string", "null"]},
            "kind": {"const": "place"},
            "where": {"$ref": "#/$defs/point"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "note", "kind", "where", "tags"],
        "additionalProperties": False,
        "$defs": {"point": {"type": "object", "properties": {"lat": {"type": "number"}},
                            "required": ["lat"], "additionalProperties": False}},
    }
    request = request_for([{"role": "user", "content": "Hi"}], response_format={
        "type": "json_schema", "json_schema": {"name": "place", "strict": True, "schema": schema}})
    assert request["generationConfig"] == {"responseMimeType": "application/json", "responseSchema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Name"},
            "note": {"type": "string", "nullable": True},
            "kind": {"enum": ["place"]},
            "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "note", "kind", "where", "tags"],
    }}


def test_a_schema_that_refers_to_itself_is_refused():
    schema = {"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {
        "child": {"$ref": "#/$defs/node"}}}}}
    error = refused({"messages": [{"role": "user", "content": "Hi"}],
                     "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}})
    assert error.param == "response_format.json_schema.schema"
    assert "#/$defs/node" in error.message


def test_tools_become_function_declarations():
    request = request_for([{"role": "user", "content": "Weather?"}], tools=[
        {"type": "function", "function": {"name": "weather", "description": "Weather now", "strict": True,
                                          "parameters": {"type": "object", "additionalProperties": False,
                                                         "properties": {"city": {"type": "string"}},
                                                         "required": ["city"]}}},
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
    ])
    assert request["tools"] == [{"functionDeclarations": [
        {"name": "weather", "description": "Weather now",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "now"},  # Gemini refuses an object schema without properties
    ]}]
    assert "toolConfig" not in request


@pytest.mark.parametrize("choice, config", [
    ("auto", {"mode": "AUTO"}),
    ("required", {"mode": "ANY"}),
    ("none", {"mode": "NONE"}),
    ({"type": "function", "function": {"name": "weather"}}, {"mode": "ANY", "allowedFunctionNames": ["weather"]}),
])
def test_tool_choice_becomes_the_function_calling_config(choice, config):
    request = request_for([{"role": "user", "content": "Hi"}], tool_choice=choice,
                          tools=[{"type": "function", "function": {"name": "weather"}}])
    assert request["toolConfig"] == {"functionCallingConfig": config}


def test_an_unknown_tool_choice_is_refused():
    error = refused({"messages": [{"role": "user", "content": "Hi"}], "tool_choice": "sometimes"})
    assert (error.code, error.param) == ("invalid_value", "tool_choice")


def test_the_older_functions_and_function_call_fields_are_translated_too():
    request = request_for([{"role": "user", "content": "Hi"}], functions=[{"name": "weather"}],
                          function_call={"name": "weather"})
    assert request["tools"] == [{"functionDeclarations": [{"name": "weather"}]}]
    assert request["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}}


def test_a_tool_of_another_type_is_refused():
    error = refused({"messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "web_search"}]})
    assert error.param == "tools[0].type"


def conversation_with_tools() -> list[dict]:
    return [
        {"role": "user", "content": "Weather in Paris and the time?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
             "extra_content": {"google": {"thought_signature": "sig-1"}}},
            {"id": "call_b", "type": "function", "function": {"name": "now", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"celsius": 21}'},
        {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
        {"role": "user", "content": "Thanks"},
    ]


def test_tool_calls_and_results_become_function_call_and_function_response_parts():
    request = request_for(conversation_with_tools())
    assert request["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and the time?"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig-1"},
            {"functionCall": {"name": "now", "args": {}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "weather", "response": {"celsius": 21}}},
            {"functionResponse": {"name": "now", "response": {"content": "12:00"}}},
            {"text": "Thanks"},
        ]},
    ]


@pytest.mark.parametrize("content, response", [
    ('{"ok": true}', {"ok": True}),
    ("[1, 2]", {"content": [1, 2]}),
    ("42", {"content": 42}),
    ("plain words", {"content": "plain words"}),
    ([{"type": "text", "text": '{"a": '}, {"type": "text", "text": "1}"}], {"a": 1}),
])
def test_a_tool_result_is_sent_as_an_object(content, response):
    messages = conversation_with_tools()[:2] + [{"role": "tool", "tool_call_id": "call_a", "content": content}]
    assert request_for(messages)["contents"][2]["parts"][0]["functionResponse"]["response"] == response


def test_a_tool_result_for_an_unknown_call_is_refused():
    error = refused({"messages": [{"role": "user", "content": "Hi"},
                                  {"role": "tool", "tool_call_id": "call_x", "content": "1"}]})
    assert (error.code, error.param) == ("invalid_value", "messages[1].tool_call_id")


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_call_arguments_that_are_not_a_json_object_are_refused(arguments):
    error = refused({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}]}]})
    assert error.param == "messages[0].tool_calls[0].function.arguments"


def test_an_image_data_url_becomes_inline_data():
    request = request_for([{"role": "user", "content": [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
    ]}])
    assert request["contents"][0]["parts"] == [
        {"text": "What is it?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


def test_an_http_image_url_is_refused_since_the_router_does_not_fetch_urls():
    error = refused({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})
    assert (error.code, error.param) == ("unsupported_value", "messages[0].content[0].image_url.url")
    assert "does not fetch URLs" in error.message


def test_an_image_url_that_is_not_a_base64_data_url_is_refused():
    error = refused({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,raw"}}]}]})
    assert (error.code, error.param) == ("invalid_value", "messages[0].content[0].image_url.url")


def test_unknown_roles_and_part_types_are_refused():
    assert refused({"messages": [{"role": "function", "content": "x"}]}).param == "messages[0].role"
    error = refused({"messages": [{"role": "user", "content": [{"type": "video", "video": "x"}]}]})
    assert error.param == "messages[0].content[0].type"


# --- answers -------------------------------------------------------------------------------------------------


def test_a_text_answer_becomes_a_chat_completion():
    completion = to_chat_completion(answer(candidate([{"text": "Hello "}, {"text": "there"}]), usageMetadata=USAGE),
                                    MODEL, CREATED, ids())
    assert completion == {
        "id": "chatcmpl-resp1", "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "logprobs": None,
                     "finish_reason": "stop"}],
        "usage": OPENAI_USAGE,
    }


def test_cached_tokens_are_counted_once_and_thinking_tokens_are_output():
    usage = to_chat_completion(answer(candidate([{"text": "x"}]), usageMetadata=USAGE), MODEL, CREATED)["usage"]
    assert usage["prompt_tokens"] == 120  # promptTokenCount already holds the 100 cached tokens
    assert usage["prompt_tokens_details"]["cached_tokens"] == 100
    assert usage["completion_tokens"] == 7 + 5
    assert usage["total_tokens"] == 132


def test_an_answer_without_usage_reports_zero():
    usage = to_chat_completion(answer(candidate([{"text": "x"}])), MODEL, CREATED)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (0, 0, 0)


def test_tool_calls_get_router_made_ids_json_arguments_and_finish_with_tool_calls():
    completion = to_chat_completion(answer(candidate([
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig-1"},
        {"functionCall": {"name": "now"}},
        {"functionCall": {"name": "clear", "args": {}}},
    ])), MODEL, CREATED, ids())
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
         "extra_content": {"google": {"thought_signature": "sig-1"}}},
        {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}},
        {"id": "call_3", "type": "function", "function": {"name": "clear", "arguments": "{}"}},
    ]}


def test_text_beside_a_tool_call_is_kept_and_thought_summaries_are_left_out():
    completion = to_chat_completion(answer(candidate([
        {"text": "thinking it over", "thought": True},
        {"text": "Let me check."},
        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
    ])), MODEL, CREATED, ids())
    message = completion["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert [call["function"]["name"] for call in message["tool_calls"]] == ["weather"]


def test_a_tool_call_answer_sent_back_gives_the_same_request_parts():
    """The thought signature Gemini 3 needs on the next turn survives the round trip through OpenAI's shape."""
    parts = [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig-1"}]
    message = to_chat_completion(answer(candidate(parts)), MODEL, CREATED, ids())["choices"][0]["message"]
    request = request_for([{"role": "user", "content": "Weather?"}, message])
    assert request["contents"][1] == {"role": "model", "parts": parts}


@pytest.mark.parametrize("reason, finish", [
    ("STOP", "stop"), (None, "stop"), ("OTHER", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("BLOCKLIST", "content_filter"),
    ("SPII", "content_filter"),
])
def test_finish_reasons(reason, finish):
    completion = to_chat_completion(answer(candidate([{"text": "x"}], reason)), MODEL, CREATED)
    assert completion["choices"][0]["finish_reason"] == finish


def test_a_tool_call_cut_short_by_the_token_limit_ends_with_length():
    completion = to_chat_completion(answer(candidate([{"functionCall": {"name": "f"}}], "MAX_TOKENS")), MODEL,
                                    CREATED, ids())
    assert completion["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"])
def test_a_failed_tool_call_is_a_provider_error_never_stop(reason):
    with pytest.raises(ApiError) as caught:
        to_chat_completion(answer(candidate([], reason, finishMessage="Malformed function call: weather(city=")),
                           MODEL, CREATED)
    assert (caught.value.status, caught.value.code) == (502, "provider_error")
    assert reason in caught.value.message
    assert "Malformed function call: weather(city=" in caught.value.message


def test_a_blocked_prompt_is_a_content_filter_answer_with_empty_content():
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9},
               "responseId": "resp2"}
    completion = to_chat_completion(blocked, MODEL, CREATED)
    assert completion["choices"] == [{"index": 0, "message": {"role": "assistant", "content": ""}, "logprobs": None,
                                      "finish_reason": "content_filter"}]
    assert completion["usage"]["prompt_tokens"] == 9


def test_an_answer_without_candidates_or_reason_is_a_provider_error():
    with pytest.raises(ApiError) as caught:
        to_chat_completion({"responseId": "r"}, MODEL, CREATED)
    assert (caught.value.status, caught.value.code) == (502, "provider_error")


def test_the_completion_id_comes_from_make_id_when_gemini_gives_none():
    response = {"candidates": [candidate([{"text": "x"}])]}
    assert to_chat_completion(response, MODEL, CREATED, ids())["id"] == "chatcmpl-call_1"


# --- streams -------------------------------------------------------------------------------------------------


def run_stream(events: list[dict], include_usage: bool = True) -> tuple[list[dict], StreamTranslator]:
    translator = StreamTranslator(MODEL, include_usage, CREATED, ids())
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    return chunks + translator.finish(), translator


def assemble(chunks: list[dict]) -> dict:
    """What an OpenAI client builds from the chunks (openai-python's stream accumulation, by `index`)."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        if "usage" in chunk:
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls", []):
                entry = calls.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.get("id") or entry["id"]
                entry["name"] += call["function"].get("name", "")
                entry["arguments"] += call["function"].get("arguments", "")
            finish = choice["finish_reason"] or finish
    return {"text": text, "tool_calls": [calls[index] for index in sorted(calls)], "finish": finish, "usage": usage}


def test_a_text_stream_gives_openai_chunks_then_the_finish_and_the_usage_chunk():
    chunks, translator = run_stream([
        answer(candidate([{"text": "Hel"}], None)),
        answer(candidate([{"text": "lo"}], None)),
        answer(candidate([{"text": "!"}], "STOP"), usageMetadata=USAGE),
    ])
    base = {"id": "chatcmpl-resp1", "object": "chat.completion.chunk", "created": CREATED, "model": MODEL}
    assert chunks == [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": OPENAI_USAGE},
    ]
    assert translator.usage == OPENAI_USAGE


def test_without_include_usage_there_is_no_usage_chunk_but_the_usage_is_known():
    chunks, translator = run_stream([answer(candidate([{"text": "Hi"}]), usageMetadata=USAGE)],
                                    include_usage=False)
    assert all("usage" not in chunk and chunk["choices"] for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert translator.usage == OPENAI_USAGE


def test_the_usage_is_none_until_gemini_reports_it():
    _chunks, translator = run_stream([answer(candidate([{"text": "Hi"}]))], include_usage=False)
    assert translator.usage is None


def tool_stream() -> list[dict]:
    return [
        answer(candidate([{"text": "Checking."}], None)),
        answer(candidate([{"functionCall": {"name": "weather", "args": {"city": "Paris"}},
                           "thoughtSignature": "sig-1"}], None)),
        answer(candidate([{"functionCall": {"name": "now"}}], "STOP"), usageMetadata=USAGE),
    ]


def test_stream_tool_calls_carry_index_id_name_and_whole_arguments_and_finish_with_tool_calls():
    chunks, _translator = run_stream(tool_stream())
    calls = [call for chunk in chunks for choice in chunk["choices"] for call in choice["delta"].get("tool_calls", [])]
    assert calls == [
        {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
         "extra_content": {"google": {"thought_signature": "sig-1"}}},
        {"index": 1, "id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"  # Gemini said STOP
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == OPENAI_USAGE


def test_several_tool_calls_in_one_stream_object_are_indexed_in_order():
    chunks, _translator = run_stream([answer(candidate([{"functionCall": {"name": "a"}},
                                                        {"functionCall": {"name": "b", "args": {"x": 1}}}]))])
    calls = assemble(chunks)["tool_calls"]
    assert calls == [{"id": "call_1", "name": "a", "arguments": "{}"},
                     {"id": "call_2", "name": "b", "arguments": '{"x": 1}'}]


def test_streamed_and_whole_answers_assemble_to_the_same_text_tool_calls_and_usage():
    streamed = assemble(run_stream(tool_stream())[0])
    whole_answer = answer(candidate([part for event in tool_stream()
                                     for part in event["candidates"][0]["content"]["parts"]]), usageMetadata=USAGE)
    completion = to_chat_completion(whole_answer, MODEL, CREATED, ids())
    message = completion["choices"][0]["message"]
    assert streamed["text"] == message["content"]
    assert streamed["tool_calls"] == [{"id": call["id"], **call["function"]} for call in message["tool_calls"]]
    assert streamed["finish"] == completion["choices"][0]["finish_reason"] == "tool_calls"
    assert streamed["usage"] == completion["usage"]


@pytest.mark.parametrize("reason, finish", [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                            ("RECITATION", "content_filter")])
def test_stream_finish_reasons(reason, finish):
    chunks, _translator = run_stream([answer(candidate([{"text": "x"}], None)), answer(candidate([], reason))])
    assert assemble(chunks)["finish"] == finish


def test_a_malformed_function_call_in_a_stream_ends_it_with_an_error_frame():
    translator = StreamTranslator(MODEL, True, CREATED, ids())
    first = translator.feed(answer(candidate([{"text": "Let me"}], None)))
    failed = translator.feed(answer(candidate([], "MALFORMED_FUNCTION_CALL", finishMessage="bad call")))
    assert first[0]["choices"][0]["delta"]["content"] == "Let me"
    assert failed == [{"error": {"message": failed[0]["error"]["message"], "type": "server_error", "param": None,
                                 "code": "provider_error"}}]
    assert "MALFORMED_FUNCTION_CALL" in failed[0]["error"]["message"] and "bad call" in failed[0]["error"]["message"]
    assert translator.feed(answer(candidate([{"text": "more"}]))) == []
    assert translator.finish() == []  # no `stop` after the error


def test_an_error_object_in_the_stream_becomes_an_error_frame():
    translator = StreamTranslator(MODEL, True, CREATED, ids())
    frames = translator.feed({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
    assert frames == [{"error": {"message": "The model is overloaded.", "type": "server_error", "param": None,
                                 "code": "provider_error"}}]
    assert translator.finish() == []


def test_a_blocked_prompt_in_a_stream_is_a_content_filter_answer():
    chunks, _translator = run_stream([{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                                       "usageMetadata": {"promptTokenCount": 4}, "responseId": "r9"}])
    assert [chunk["choices"] for chunk in chunks[:2]] == [
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
    ]
    assert chunks[2]["choices"] == [] and chunks[2]["usage"]["prompt_tokens"] == 4
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-r9"}


def test_an_empty_stream_is_an_error_not_an_empty_answer():
    translator = StreamTranslator(MODEL, True, CREATED, ids())
    frames = translator.finish()
    assert len(frames) == 1 and frames[0]["error"]["code"] == "provider_error"


# --- embeddings ----------------------------------------------------------------------------------------------


def test_embedding_inputs_become_batch_embed_requests():
    assert to_embed_request({"model": "google:text-embedding-004", "input": "hello"}, "text-embedding-004") == {
        "requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}}]}
    body = to_embed_request({"input": ["a", "b"], "dimensions": 256}, "models/gemini-embedding-001")
    assert body == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256},
    ]}


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2], [3]], [], 5])
def test_token_ids_and_other_inputs_are_refused_for_embeddings(value):
    with pytest.raises(ApiError) as caught:
        to_embed_request({"input": value}, "text-embedding-004")
    assert (caught.value.status, caught.value.param) == (400, "input")


def test_a_missing_embedding_input_is_refused():
    with pytest.raises(ApiError) as caught:
        to_embed_request({}, "text-embedding-004")
    assert (caught.value.code, caught.value.param) == ("missing_required_parameter", "input")


def test_embeddings_become_an_openai_list():
    response = {"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25, 2.0]}]}
    assert to_embeddings_response(response, "google:text-embedding-004") == {
        "object": "list", "model": "google:text-embedding-004",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
                 {"object": "embedding", "index": 1, "embedding": [0.25, 2.0]}],
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


def test_embeddings_in_base64_are_little_endian_float32_as_openai_sends_them():
    response = to_embeddings_response({"embeddings": [{"values": [0.5, -1.0]}]}, "m", encoding_format="base64")
    raw = base64.b64decode(response["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)


def test_embedding_usage_is_taken_when_gemini_reports_it():
    response = {"embeddings": [{"values": [1.0]}], "usageMetadata": {"promptTokenCount": 3}}
    assert to_embeddings_response(response, "m")["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_tool_call_arguments_are_valid_json_for_every_answer():
    """Peers send '' for a call without arguments, which breaks clients' json.loads (LiteLLM #5063)."""
    completion = to_chat_completion(answer(candidate([{"functionCall": {"name": "now"}}])), MODEL, CREATED, ids())
    for call in completion["choices"][0]["message"]["tool_calls"]:
        assert isinstance(json.loads(call["function"]["arguments"]), dict)
