"""Cloud models end to end (issue 13, acceptance): the official `openai` client → the real router (gunicorn) →
local imitations of the OpenAI, Anthropic and Gemini APIs, each speaking its provider's own wire format.

Each test scripts what the "model" says once (`Reply`), asks the router for it streamed and not, and checks what
the client got against what the provider was sent. The three providers' keys are distinctive strings; the last
test searches every log file, the history and the API's answers for them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import requests

from tests.support.cloud_imitation import CloudImitation, Failure, Reply, ToolCall, embedding_of
from tests.support.router_process import RouterProcess, start_router

KEYS = {"openai": "sk-imitation-openai-0123456789abcdef", "anthropic": "sk-ant-imitation-0123456789abcdef",
        "google": "AIza-imitation-0123456789abcdef"}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}
PROVIDERS = list(MODELS)
QUESTION = [{"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "What is the capital of France?"}]
WEATHER = {"type": "function", "function": {"name": "weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PIXEL = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                       "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d1c1e80000000049454e44ae426082")).decode()


@dataclass
class World:
    router: RouterProcess
    imitations: dict[str, CloudImitation]
    client: openai.OpenAI
    key: str  # the router API key the client uses


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[World]:
    imitations = {name: CloudImitation(name, key=KEYS[name]).start() for name in PROVIDERS}  # type: ignore[arg-type]
    env = {"OPENAI_API_KEY": KEYS["openai"], "OPENAI_BASE_URL": imitations["openai"].base_url,
           "ANTHROPIC_API_KEY": KEYS["anthropic"], "ANTHROPIC_BASE_URL": imitations["anthropic"].base_url,
           "GEMINI_API_KEY": KEYS["google"], "GEMINI_BASE_URL": imitations["google"].base_url,
           "LLM_ROUTER_PROVIDER_READ_TIMEOUT_SECONDS": "2", "LLM_ROUTER_LOG_LEVEL": "DEBUG"}
    router = start_router(tmp_path_factory.mktemp("cloud"), hub.url, env)
    try:
        key = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                            json={"name": "cloud client", "scopes": ["api"]}).json()["key"]
        client = openai.OpenAI(api_key=key, base_url=f"{router.url}/v1", max_retries=0, timeout=20)
        yield World(router, imitations, client, key)
    finally:
        router.stop()
        for imitation in imitations.values():
            imitation.stop()


@pytest.fixture
def cloud(world: World) -> World:
    for imitation in world.imitations.values():
        imitation.script.clear()
    return world


def ask(world: World, provider: str, reply: Reply | Failure, stream: bool, **fields: Any) -> Any:
    world.imitations[provider].answer_with(reply)
    fields.setdefault("messages", QUESTION)
    if stream:
        return list(world.client.chat.completions.create(model=f"{provider}:{MODELS[provider]}", stream=True,
                                                         **fields))
    return world.client.chat.completions.create(model=f"{provider}:{MODELS[provider]}", **fields)


def assembled(chunks: list[Any]) -> dict[str, Any]:
    """What a client makes of a stream: text, tool calls by index, finish reason, usage."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage.model_dump(exclude_none=True)
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                assert call.index is not None  # LiteLLM #5231: every tool-call delta carries its index
                entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                entry["name"] += (call.function.name or "") if call.function else ""
                entry["arguments"] += (call.function.arguments or "") if call.function else ""
    return {"text": text, "tool_calls": [calls[index] for index in sorted(calls)], "finish": finish, "usage": usage}


def whole(answer: Any) -> dict[str, Any]:
    message = answer.choices[0].message
    calls = [{"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
             for call in message.tool_calls or []]
    return {"text": message.content or "", "tool_calls": calls, "finish": answer.choices[0].finish_reason,
            "usage": answer.usage.model_dump(exclude_none=True)}


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """Tool-call ids differ between two answers (Gemini's are the router's own); the rest must not."""
    return {**result, "tool_calls": [{**call, "id": bool(call["id"])} for call in result["tool_calls"]]}


# --- chat ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_text_with_a_system_prompt_streamed_and_not_give_the_same_answer(cloud: World, provider: str):
    reply = Reply(text="Paris is the capital of France.", usage={"input": 20, "output": 8, "cached": 6})
    answer = ask(cloud, provider, reply, stream=False)
    chunks = ask(cloud, provider, reply, stream=True, stream_options={"include_usage": True})
    assert answer.model == f"{provider}:{MODELS[provider]}"
    assert all(chunk.model == answer.model for chunk in chunks)
    assert comparable(whole(answer)) == comparable(assembled(chunks))
    assert whole(answer)["text"] == "Paris is the capital of France."
    assert whole(answer)["usage"]["prompt_tokens"] == 26
    assert whole(answer)["usage"]["completion_tokens"] == 8
    assert whole(answer)["usage"]["prompt_tokens_details"]["cached_tokens"] == 6
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # LiteLLM #28735
    sent = cloud.imitations[provider].bodies()[-2:]
    if provider == "anthropic":
        assert all(body["system"] == "Answer in one sentence." for body in sent)
        assert all(message["role"] != "system" for body in sent for message in body["messages"])
    elif provider == "google":
        assert all(body["systemInstruction"]["parts"][0]["text"] == "Answer in one sentence." for body in sent)
    else:
        assert sent[0]["messages"] == QUESTION
        assert sent[1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_without_include_usage_has_no_usage_chunk(cloud: World, provider: str):
    chunks = ask(cloud, provider, Reply(text="Paris."), stream=True)
    assert all(chunk.usage is None for chunk in chunks)
    assert assembled(chunks)["text"] == "Paris."
    if provider == "openai":  # asked of the provider all the same: the history costs every stream
        assert cloud.imitations["openai"].bodies()[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_several_tool_calls_streamed_and_not(cloud: World, provider: str):
    reply = Reply(tool_calls=[ToolCall("weather", {"city": "Paris"}), ToolCall("weather", {"city": "Tokyo"}),
                              ToolCall("now", {})])
    answer = ask(cloud, provider, reply, stream=False, tools=[WEATHER], tool_choice="auto")
    chunks = ask(cloud, provider, reply, stream=True, tools=[WEATHER], tool_choice="auto",
                 stream_options={"include_usage": True})
    for result in (whole(answer), assembled(chunks)):
        assert result["finish"] == "tool_calls"  # LiteLLM #12240: never "stop" after tool calls
        assert [call["name"] for call in result["tool_calls"]] == ["weather", "weather", "now"]
        assert [json.loads(call["arguments"]) for call in result["tool_calls"]] == [
            {"city": "Paris"}, {"city": "Tokyo"}, {}]  # LiteLLM #5063: no-argument calls are "{}"
        assert all(call["id"] for call in result["tool_calls"])
    assert comparable(whole(answer)) == comparable(assembled(chunks))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_results_go_back_to_the_provider_in_its_own_shape(cloud: World, provider: str):
    conversation = [{"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": None, "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "weather",
                                                                          "arguments": "{\"city\": \"Paris\"}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 °C"}]
    answer = ask(cloud, provider, Reply(text="It is sunny."), stream=False, messages=conversation, tools=[WEATHER])
    assert answer.choices[0].message.content == "It is sunny."
    sent = cloud.imitations[provider].bodies()[-1]
    if provider == "anthropic":
        assert sent["messages"][1]["content"][0] == {"type": "tool_use", "id": "call_1", "name": "weather",
                                                     "input": {"city": "Paris"}}
        assert sent["messages"][2]["content"][0]["type"] == "tool_result"
        assert sent["messages"][2]["content"][0]["tool_use_id"] == "call_1"
    elif provider == "google":
        assert sent["contents"][1]["parts"][0]["functionCall"] == {"name": "weather", "args": {"city": "Paris"}}
        assert sent["contents"][2]["parts"][0]["functionResponse"]["name"] == "weather"
    else:
        assert sent["messages"] == conversation


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stop_sequences_and_sampling_are_carried_over(cloud: World, provider: str):
    ask(cloud, provider, Reply(text="One"), stream=False, stop=["END"], temperature=0.25, max_tokens=50)
    sent = cloud.imitations[provider].bodies()[-1]
    if provider == "anthropic":
        assert (sent["stop_sequences"], sent["temperature"], sent["max_tokens"]) == (["END"], 0.25, 50)
    elif provider == "google":
        config = sent["generationConfig"]
        assert (config["stopSequences"], config["temperature"], config["maxOutputTokens"]) == (["END"], 0.25, 50)
    else:
        assert (sent["stop"], sent["temperature"], sent["max_tokens"]) == (["END"], 0.25, 50)


def test_anthropic_max_tokens_defaults_to_the_models_output_limit(cloud: World):
    cloud.client.models.list()  # the router reads Anthropic's list: claude-sonnet-4-5 writes up to 64,000 tokens
    ask(cloud, "anthropic", Reply(text="x"), stream=False)
    assert cloud.imitations["anthropic"].bodies()[-1]["max_tokens"] == 64_000


@pytest.mark.parametrize("provider", PROVIDERS)
def test_images(cloud: World, provider: str):
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]
    answer = ask(cloud, provider, Reply(text="A pixel."), stream=False, messages=[{"role": "user", "content": content}])
    assert answer.choices[0].message.content == "A pixel."
    sent = cloud.imitations[provider].bodies()[-1]
    if provider == "anthropic":
        assert sent["messages"][0]["content"][1] == {"type": "image", "source": {
            "type": "base64", "media_type": "image/png", "data": PIXEL}}
    elif provider == "google":
        blob = sent["contents"][0]["parts"][1]["inlineData"]  # the SDK writes mime_type; Gemini reads both spellings
        assert (blob.get("mimeType") or blob.get("mime_type"), blob["data"]) == ("image/png", PIXEL)
    else:
        assert sent["messages"][0]["content"] == content


def test_an_image_url_is_a_url_source_for_anthropic_and_refused_for_gemini(cloud: World):
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    ask(cloud, "anthropic", Reply(text="A cat."), stream=False, messages=[{"role": "user", "content": content}])
    assert cloud.imitations["anthropic"].bodies()[-1]["messages"][0]["content"][0]["source"] == {
        "type": "url", "url": "https://example.com/cat.png"}
    sent_before = len(cloud.imitations["google"].requests)
    with pytest.raises(openai.BadRequestError) as refused:
        cloud.client.chat.completions.create(model="google:gemini-2.5-flash",
                                             messages=[{"role": "user", "content": content}])
    assert "URL" in refused.value.message or "url" in refused.value.message
    assert len(cloud.imitations["google"].requests) == sent_before  # refused before anything was sent


STOP_REASONS = [
    ("anthropic", "end_turn", "stop"), ("anthropic", "stop_sequence", "stop"), ("anthropic", "max_tokens", "length"),
    ("anthropic", "refusal", "content_filter"),
    ("google", "STOP", "stop"), ("google", "MAX_TOKENS", "length"), ("google", "SAFETY", "content_filter"),
    ("google", "RECITATION", "content_filter"), ("google", "PROHIBITED_CONTENT", "content_filter"),
    ("google", "BLOCKLIST", "content_filter"),
    ("openai", "stop", "stop"), ("openai", "length", "length"), ("openai", "content_filter", "content_filter"),
]


@pytest.mark.parametrize("provider, native, expected", STOP_REASONS)
def test_every_stop_and_finish_reason(cloud: World, provider: str, native: str, expected: str):
    reply = Reply(text="Some text", stop=native)
    assert whole(ask(cloud, provider, reply, stream=False))["finish"] == expected
    assert assembled(ask(cloud, provider, reply, stream=True))["finish"] == expected


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_malformed_function_call_is_an_error_never_stop(cloud: World, stream: bool):
    reply = Reply(stop="MALFORMED_FUNCTION_CALL")  # LiteLLM #21744
    if not stream:
        with pytest.raises(openai.APIStatusError) as failed:
            ask(cloud, "google", reply, stream=False, tools=[WEATHER])
        assert failed.value.status_code >= 400
        return
    with pytest.raises(openai.APIError):
        ask(cloud, "google", reply, stream=True, tools=[WEATHER])


@pytest.mark.parametrize("provider, kind", [("anthropic", "overloaded_error"), ("google", "INTERNAL"),
                                            ("openai", "server_error")])
def test_a_mid_stream_error_event_becomes_an_error_frame_then_done(cloud: World, provider: str, kind: str):
    cloud.imitations[provider].answer_with(Reply(text="Partial answer", error=(kind, "Something broke upstream")))
    response = requests.post(f"{cloud.router.url}/v1/chat/completions", timeout=20, stream=True,
                             headers={"Authorization": f"Bearer {cloud.key}"},
                             json={"model": f"{provider}:{MODELS[provider]}", "messages": QUESTION, "stream": True})
    assert response.status_code == 200
    events = [line[6:] for line in response.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    frame = json.loads(events[-2])
    assert "Something broke upstream" in frame["error"]["message"]
    assert frame["error"]["type"] == "server_error"
    text = "".join(choice["delta"].get("content") or "" for event in events[:-2]
                   for choice in json.loads(event).get("choices") or [])
    assert text == "Partial answer"


ERROR_MAPPINGS = [  # provider status -> what the client gets
    (400, 400, None), (404, 404, None), (429, 429, None), (401, 502, "provider_auth_failed"),
    (403, 502, "provider_auth_failed"), (500, 502, "provider_error"), (503, 502, "provider_error"),
]
ERROR_KINDS = {"openai": "invalid_request_error", "anthropic": "api_error", "google": "INVALID_ARGUMENT"}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("upstream, status, code", ERROR_MAPPINGS)
def test_each_error_status_mapping(cloud: World, provider: str, upstream: int, status: int, code: str | None):
    headers = {"Retry-After": "17"} if upstream == 429 else {}
    cloud.imitations[provider].answer_with(Failure(upstream, ERROR_KINDS[provider], "the provider's own words",
                                                   headers))
    response = requests.post(f"{cloud.router.url}/v1/chat/completions", timeout=20,
                             headers={"Authorization": f"Bearer {cloud.key}"},
                             json={"model": f"{provider}:{MODELS[provider]}", "messages": QUESTION})
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code:
        assert error["code"] == code
    if status != 502 or code != "provider_auth_failed":
        assert "the provider's own words" in error["message"]
    if upstream == 429:
        assert response.headers["Retry-After"] == "17"


def test_a_provider_that_does_not_answer_in_time_is_504(cloud: World):
    cloud.imitations["anthropic"].answer_with(Reply(text="late", delay=3))  # the router waits 2 s
    response = requests.post(f"{cloud.router.url}/v1/chat/completions", timeout=20,
                             headers={"Authorization": f"Bearer {cloud.key}"},
                             json={"model": "anthropic:claude-sonnet-4-5", "messages": QUESTION})
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "provider_timeout"


def test_an_unknown_prefix_is_404_naming_the_configured_providers(cloud: World):
    with pytest.raises(openai.NotFoundError) as missing:
        cloud.client.chat.completions.create(model="mistral:large", messages=QUESTION)
    assert missing.value.code == "model_not_found"
    for prefix in ("openai:", "anthropic:", "google:"):
        assert prefix in missing.value.message


# --- embeddings and the model list ---------------------------------------------------------------------------

@pytest.mark.parametrize("provider, model", [("openai", "text-embedding-3-small"),
                                             ("google", "gemini-embedding-001")])
def test_embeddings(cloud: World, provider: str, model: str):
    texts = ["The quick brown fox", "富士山の高さ"]
    result = cloud.client.embeddings.create(model=f"{provider}:{model}", input=texts)
    assert result.model == f"{provider}:{model}"
    # the client asks for base64 (float32) by default, as OpenAI's SDK does
    assert [item.embedding for item in result.data] == [pytest.approx(embedding_of(text), rel=1e-6) for text in texts]
    assert '"encoding_format": "base64"' in json.dumps(cloud.imitations[provider].bodies()[-1]) or provider == "google"


def test_anthropic_has_no_embeddings(cloud: World):
    with pytest.raises(openai.BadRequestError) as refused:
        cloud.client.embeddings.create(model="anthropic:claude-sonnet-4-5", input="x")
    assert "Anthropic" in refused.value.message


def test_the_model_list_holds_each_providers_models_with_its_prefix(cloud: World):
    ids = [model.id for model in cloud.client.models.list()]
    for expected in ("openai:gpt-4o-mini", "openai:text-embedding-3-small", "anthropic:claude-sonnet-4-5",
                     "google:gemini-2.5-flash", "google:gemini-embedding-001"):
        assert expected in ids
    assert cloud.client.models.retrieve("anthropic:claude-sonnet-4-5").owned_by == "anthropic"


# --- the keys stay secret -----------------------------------------------------------------------------------

def test_no_provider_key_reaches_a_log_the_history_or_an_answer(cloud: World):
    cloud.imitations["openai"].answer_with(Failure(401, "invalid_request_error",
                                                   f"Incorrect API key provided: {KEYS['openai']}."))
    refused = requests.post(f"{cloud.router.url}/v1/chat/completions", timeout=20,
                            headers={"Authorization": f"Bearer {cloud.key}"},
                            json={"model": "openai:gpt-4o-mini", "messages": QUESTION})
    assert refused.status_code == 502
    admin = cloud.router.auth_headers
    answers = [refused.text,
               requests.get(f"{cloud.router.url}/v0/requests?limit=200", headers=admin, timeout=10).text,
               requests.get(f"{cloud.router.url}/v1/models", headers={"Authorization": f"Bearer {cloud.key}"},
                            timeout=10).text]
    for record in requests.get(f"{cloud.router.url}/v0/requests?limit=50", headers=admin, timeout=10).json()["requests"]:
        answers.append(requests.get(f"{cloud.router.url}/v0/requests/{record['id']}", headers=admin, timeout=10).text)
    logs = [path.read_text(errors="replace") for path in Path(cloud.router.instance_path).rglob("*.log*")]
    logs.append(Path(cloud.router.log_path).read_text(errors="replace"))
    assert logs and len(answers) > 3
    for key in KEYS.values():
        for text in answers + logs:
            assert key not in text
