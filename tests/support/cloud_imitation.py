"""Local imitations of the OpenAI, Anthropic and Gemini APIs, each speaking its provider's own wire format.

What cannot exist here (the providers) is imitated by a real HTTP server on 127.0.0.1 that the router's SDK
clients talk to. A test scripts what the model "says" once, as a `Reply` (text, tool calls, stop reason,
usage, a mid-stream error), and the imitation renders it in its provider's format, whole or as that
provider's server-sent events, depending on what the request asked for. So the same `Reply` yields the
streamed and the non-streamed answer, and a test can compare what the router made of each.

Each imitation checks what a real provider checks before answering: the key (401 in the provider's own
error body otherwise) and the fields its API requires (400). A scripted `Failure` answers with a status,
the provider's error body and headers (`Retry-After`). Every request is recorded (`requests`).
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .json_server import JsonServer, Request

Provider = Literal["openai", "anthropic", "google"]


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass
class Reply:
    """What the model answers, provider-neutral. `stop` is the provider's own stop reason ("end_turn",
    "STOP", "stop"...); None picks its plain one (or its tool-call one when there are tool calls).
    `usage`: input, output, cached (read from the cache) and cache_write tokens. `error`: after the text,
    the stream fails with this provider error (type or status, message); a whole answer ignores it."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    stop: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"input": 12, "output": 5})
    error: tuple[str, str] | None = None
    delay: float = 0.0  # seconds before answering (a slow provider)


@dataclass
class Failure:
    """An error answer: HTTP status, the provider's error `kind` (its type or status name), message, headers."""

    status: int
    kind: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[index:index + size] for index in range(0, len(text), size)] or []


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        prefix = f"event: {name}\n" if name else ""
        out.append(f"{prefix}data: {data if isinstance(data, str) else json.dumps(data)}\n\n")
    return "".join(out).encode()


_STREAM = {"Content-Type": "text/event-stream"}


class CloudImitation:
    """One provider's API. `key` is the only key it accepts; `script` holds the replies and failures to give,
    in order (then `default`); `models` is its model list. Start and stop it like a JsonServer."""

    def __init__(self, provider: Provider, key: str = "imitation-key", models: list[dict[str, Any]] | None = None,
                 default: Reply | None = None) -> None:
        self.provider = provider
        self.key = key
        self.script: list[Reply | Failure] = []
        self.default = default or Reply(text="Hello from the cloud.")
        self.models = models if models is not None else _DEFAULT_MODELS[provider]
        self.list_failure: Failure | None = None
        self._lock = threading.Lock()
        self.server = JsonServer({"POST": self._post, "GET": self._get}, http11=True, request_queue_size=256)

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> "CloudImitation":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> "CloudImitation":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """As the provider's SDK takes it: OpenAI's ends in /v1, the others are host roots."""
        return self.server.url + ("/v1" if self.provider == "openai" else "")

    @property
    def requests(self) -> list[Request]:
        return list(self.server.requests)

    def bodies(self) -> list[Any]:
        """The JSON bodies of the POST requests so far."""
        return [request.json() for request in self.server.calls("POST")]

    def answer_with(self, *items: Reply | Failure) -> None:
        with self._lock:
            self.script.extend(items)

    def _next(self) -> Reply | Failure:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    # --- the key -----------------------------------------------------------------------------------------------

    def _key_of(self, request: Request) -> str | None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if self.provider == "google":
            return headers.get("x-goog-api-key")
        if self.provider == "anthropic" and "x-api-key" in headers:
            return headers["x-api-key"]
        authorization = headers.get("authorization", "")
        return authorization[7:] if authorization.startswith("Bearer ") else None

    def _refused_key(self, request: Request) -> tuple[int, Any] | None:
        if self._key_of(request) == self.key:
            return None
        return self._failure(Failure(401, "authentication_error" if self.provider != "google" else "UNAUTHENTICATED",
                                     "Invalid API key: the key presented is not valid."))

    # --- routes ------------------------------------------------------------------------------------------------

    def _get(self, request: Request) -> tuple[int, Any] | tuple[int, Any, dict[str, str]]:
        refused = self._refused_key(request)
        if refused:
            return refused
        if self.list_failure is not None:
            return self._failure(self.list_failure)
        if self.provider == "openai":
            return 200, {"object": "list", "data": self.models}
        if self.provider == "anthropic":
            return 200, {"data": self.models, "has_more": False, "first_id": None, "last_id": None}
        return 200, {"models": self.models}

    def _post(self, request: Request) -> tuple[int, Any] | tuple[int, Any, dict[str, str]]:
        refused = self._refused_key(request)
        if refused:
            return refused
        try:
            body = request.json()
        except ValueError:
            return self._failure(Failure(400, "invalid_request_error", "The body is not JSON."))
        path = request.path.split("?", 1)[0]
        handler = getattr(self, f"_{self.provider}_post")
        return handler(path, request.path, body)

    def _failure(self, failure: Failure) -> tuple[int, Any, dict[str, str]]:
        if self.provider == "openai":
            body: Any = {"error": {"message": failure.message, "type": failure.kind, "param": None, "code": None}}
        elif self.provider == "anthropic":
            body = {"type": "error", "error": {"type": failure.kind, "message": failure.message}}
        else:
            body = {"error": {"code": failure.status, "message": failure.message, "status": failure.kind}}
        return failure.status, body, failure.headers

    def _take(self) -> Reply | Failure:
        item = self._next()
        if isinstance(item, Reply) and item.delay:
            time.sleep(item.delay)
        return item

    # --- OpenAI ------------------------------------------------------------------------------------------------

    def _openai_post(self, path: str, full_path: str, body: dict[str, Any]) -> Any:
        if path == "/v1/embeddings":
            return self._openai_embeddings(body)
        if path != "/v1/chat/completions":
            return self._failure(Failure(404, "invalid_request_error", f"Unknown path {path}."))
        if not body.get("model") or not isinstance(body.get("messages"), list):
            return self._failure(Failure(400, "invalid_request_error", "'model' and 'messages' are required."))
        item = self._take()
        if isinstance(item, Failure):
            return self._failure(item)
        usage = {"prompt_tokens": item.usage["input"] + item.usage.get("cached", 0),
                 "completion_tokens": item.usage["output"],
                 "total_tokens": item.usage["input"] + item.usage.get("cached", 0) + item.usage["output"],
                 "prompt_tokens_details": {"cached_tokens": item.usage.get("cached", 0)}}
        finish = item.stop or ("tool_calls" if item.tool_calls else "stop")
        calls = [{"id": call.id or f"call_{index}", "type": "function",
                  "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
                 for index, call in enumerate(item.tool_calls)]
        base = {"id": "chatcmpl-imitation", "created": 1_760_000_000, "model": body["model"],
                "system_fingerprint": "fp_imitation"}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": item.text or None, "refusal": None}
            if calls:
                message["tool_calls"] = calls
            return 200, {**base, "object": "chat.completion", "usage": usage,
                         "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]}
        with_usage = (body.get("stream_options") or {}).get("include_usage") is True

        def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
            event = {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]}
            if with_usage:
                event["usage"] = None
            return event

        events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
        events += [(None, chunk({"content": piece})) for piece in _pieces(item.text)]
        if item.error:
            events.append((None, {"error": {"message": item.error[1], "type": item.error[0], "param": None,
                                            "code": None}}))
            return 200, _sse(events), _STREAM
        for index, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            events.append((None, chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                                         "function": {"name": call["function"]["name"],
                                                                      "arguments": ""}}]})))
            events += [(None, chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
                       for piece in _pieces(arguments, 7)]
        events.append((None, chunk({}, finish)))
        if with_usage:
            events.append((None, {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        return 200, _sse(events), _STREAM

    def _openai_embeddings(self, body: dict[str, Any]) -> Any:
        texts = body.get("input")
        if not body.get("model") or texts is None:
            return self._failure(Failure(400, "invalid_request_error", "'model' and 'input' are required."))
        item = self._take()
        if isinstance(item, Failure):
            return self._failure(item)
        texts = [texts] if isinstance(texts, str) else texts

        def encoded(values: list[float]) -> list[float] | str:  # OpenAI's base64: little-endian float32
            if body.get("encoding_format") != "base64":
                return values
            return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")

        return 200, {"object": "list", "model": body["model"],
                     "data": [{"object": "embedding", "index": index, "embedding": encoded(embedding_of(str(text)))}
                              for index, text in enumerate(texts)],
                     "usage": {"prompt_tokens": 3 * len(texts), "total_tokens": 3 * len(texts)}}

    # --- Anthropic ---------------------------------------------------------------------------------------------

    def _anthropic_post(self, path: str, full_path: str, body: dict[str, Any]) -> Any:
        if path != "/v1/messages":
            return self._failure(Failure(404, "not_found_error", f"Unknown path {path}."))
        for name in ("model", "messages", "max_tokens"):
            if name not in body:
                return self._failure(Failure(400, "invalid_request_error", f"{name}: Field required"))
        roles = [message.get("role") for message in body["messages"]]
        if any(role not in ("user", "assistant") for role in roles) or any(a == b for a, b in zip(roles, roles[1:])):
            return self._failure(Failure(400, "invalid_request_error", "messages: roles must alternate between "
                                                                       "\"user\" and \"assistant\""))
        item = self._take()
        if isinstance(item, Failure):
            return self._failure(item)
        stop = item.stop or ("tool_use" if item.tool_calls else "end_turn")
        usage = {"input_tokens": item.usage["input"], "output_tokens": item.usage["output"],
                 "cache_read_input_tokens": item.usage.get("cached", 0),
                 "cache_creation_input_tokens": item.usage.get("cache_write", 0)}
        blocks: list[dict[str, Any]] = [{"type": "text", "text": item.text}] if item.text else []
        blocks += [{"type": "tool_use", "id": call.id or f"toolu_{index:02d}", "name": call.name,
                    "input": call.arguments} for index, call in enumerate(item.tool_calls)]
        message = {"id": "msg_imitation", "type": "message", "role": "assistant", "model": body["model"],
                   "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            return 200, message
        start_usage = {**usage, "output_tokens": 1}
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                                    "usage": start_usage}}),
            ("ping", {"type": "ping"})]
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {"type": "text", "text": ""}}))
                events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "text_delta", "text": piece}})
                           for piece in _pieces(block["text"])]
                if item.error:
                    events.append(("error", {"type": "error", "error": {"type": item.error[0],
                                                                        "message": item.error[1]}}))
                    return 200, _sse(events), _STREAM
            else:
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {**block, "input": {}}}))
                arguments = json.dumps(block["input"]) if block["input"] else ""
                events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "input_json_delta", "partial_json": piece}})
                           for piece in _pieces(arguments, 7)]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop,
                                                                            "stop_sequence": None},
                                         "usage": {"output_tokens": usage["output_tokens"]}}))
        events.append(("message_stop", {"type": "message_stop"}))
        return 200, _sse(events), _STREAM

    # --- Gemini ------------------------------------------------------------------------------------------------

    def _google_post(self, path: str, full_path: str, body: dict[str, Any]) -> Any:
        prefix = "/v1beta/models/"
        if not path.startswith(prefix) or ":" not in path:
            return self._failure(Failure(404, "NOT_FOUND", f"Unknown path {path}."))
        model, method = path[len(prefix):].rsplit(":", 1)
        if method == "batchEmbedContents":
            return self._google_embeddings(body)
        if method not in ("generateContent", "streamGenerateContent"):
            return self._failure(Failure(404, "NOT_FOUND", f"Unknown method {method}."))
        if not isinstance(body.get("contents"), list) or not body["contents"]:
            return self._failure(Failure(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is "
                                                                  "not specified"))
        item = self._take()
        if isinstance(item, Failure):
            return self._failure(item)
        usage = {"promptTokenCount": item.usage["input"] + item.usage.get("cached", 0),
                 "candidatesTokenCount": item.usage["output"],
                 "totalTokenCount": item.usage["input"] + item.usage.get("cached", 0) + item.usage["output"]}
        if item.usage.get("cached"):
            usage["cachedContentTokenCount"] = item.usage["cached"]
        finish = item.stop or "STOP"
        calls = [{"functionCall": {"name": call.name, "args": call.arguments}} for call in item.tool_calls]
        base = {"modelVersion": model, "responseId": "imitation-response"}
        if method == "generateContent":
            parts = ([{"text": item.text}] if item.text else []) + calls
            return 200, {**base, "usageMetadata": usage, "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}]}
        if "alt=sse" not in full_path:
            return self._failure(Failure(400, "INVALID_ARGUMENT", "This imitation streams only with alt=sse."))
        events: list[tuple[str | None, Any]] = []
        pieces = _pieces(item.text, 6)
        for piece in pieces:
            events.append((None, {**base, "candidates": [{"content": {"role": "model", "parts": [{"text": piece}]},
                                                          "index": 0}]}))
        if item.error:
            events.append((None, {"error": {"code": 500, "message": item.error[1], "status": item.error[0]}}))
            return 200, _sse(events), _STREAM
        last: dict[str, Any] = {"content": {"role": "model", "parts": calls or [{"text": ""}]},
                                "finishReason": finish, "index": 0}
        events.append((None, {**base, "candidates": [last], "usageMetadata": usage}))
        return 200, _sse(events), _STREAM

    def _google_embeddings(self, body: dict[str, Any]) -> Any:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._failure(Failure(400, "INVALID_ARGUMENT", "requests is not specified"))
        item = self._take()
        if isinstance(item, Failure):
            return self._failure(item)
        return 200, {"embeddings": [{"values": embedding_of(request["content"]["parts"][0]["text"])}
                                    for request in requests]}


def embedding_of(text: str) -> list[float]:
    """A deterministic 4-number embedding of `text` (the imitations' and the tests' common expectation)."""
    return [round(len(text) / 10, 3), round(sum(map(ord, text)) % 97 / 97, 3), 0.5, -0.25]


_DEFAULT_MODELS: dict[str, list[dict[str, Any]]] = {
    "openai": [{"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
               {"id": "text-embedding-3-small", "object": "model", "created": 1_705_948_997, "owned_by": "system"}],
    "anthropic": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                   "created_at": "2025-09-29T00:00:00Z", "max_input_tokens": 200_000, "max_tokens": 64_000}],
    "google": [{"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash", "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536, "supportedGenerationMethods": ["generateContent", "countTokens"]},
               {"name": "models/gemini-embedding-001", "displayName": "Gemini Embedding", "inputTokenLimit": 2048,
                "outputTokenLimit": 1, "supportedGenerationMethods": ["embedContent"]}],
}
