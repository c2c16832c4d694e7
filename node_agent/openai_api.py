"""OpenAI request bodies in, OpenAI response bodies and stream chunks out (no HTTP here).

Why a module of its own: the HTTP server only moves bytes, the engines only know prompts and token
ids; the OpenAI wire format (field names, defaults, chunk shapes, usage) is decided once, here,
for every engine. docs/protocol.md lists what the node accepts.

Parameters a client may send that the engines do not implement (`frequency_penalty`, `user`,
`logit_bias`, ...) are accepted and ignored, as llama.cpp's and Ollama's servers do: OpenAI SDKs
send some of them by default. `n` other than 1 is refused, because silently returning one choice
where a client asked for several would be wrong.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from node_agent.chat_roles import RoleError, engine_role
from node_agent.engines.common import Completion, CompletionStream, GenerationParams

__all__ = ["RequestError", "ParsedRequest", "parse_request", "response_body", "stream_chunks",
           "embeddings_body", "parse_embedding_input", "DEFAULT_MAX_TOKENS"]

Kind = Literal["chat", "completions"]

# When the client sets no max_tokens: long enough for a real answer; the engine also clips to the
# model's context window.
DEFAULT_MAX_TOKENS = 2048
MAX_STOP_STRINGS = 16


class RequestError(ValueError):
    """A client mistake in the request body; `param` names the field (OpenAI's `param`)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ParsedRequest:
    kind: Kind
    model: str
    prompt: str | list[dict[str, str]]  # raw prompt, or chat messages
    params: GenerationParams
    stream: bool
    include_usage: bool


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"'{name}' must be a number.", name)
    return value


def _integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"'{name}' must be an integer.", name)
    return value


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError("'stop' must be a string or a list of strings.", "stop")
    if len(stop) > MAX_STOP_STRINGS:
        raise RequestError(f"'stop' may hold at most {MAX_STOP_STRINGS} strings.", "stop")
    return [s for s in stop if s]


def _message_text(content: Any, index: int) -> str:
    """Plain text of a message; OpenAI SDKs may send content as a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RequestError(f"messages[{index}].content: only text parts are supported.", "messages")
            parts.append(part["text"])
        return "".join(parts)
    raise RequestError(f"messages[{index}].content must be a string or a list of text parts.", "messages")


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of {role, content} objects.", "messages")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(f"messages[{i}] must be an object with 'role' and 'content'.", "messages")
        try:
            role = engine_role(message, i)  # `developer` becomes `system`; tool messages are refused
        except RoleError as exc:
            raise RequestError(str(exc), exc.param) from None
        content = message.get("content")
        # An assistant turn may come back with "content": null (OpenAI's own answers do); it said nothing.
        text = "" if content is None and role == "assistant" else _message_text(content, i)
        clean.append({"role": role, "content": text})
    return clean


def parse_request(kind: Kind, body: Any) -> ParsedRequest:
    """Check a chat or completions body; RequestError names the first bad field."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("'model' is required (the id of a ready model).", "model")
    if kind == "chat":
        prompt: str | list[dict[str, str]] = _messages(body)
    else:
        raw = body.get("prompt")
        if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str):
            raw = raw[0]  # the SDK's list form with one prompt
        if not isinstance(raw, str):
            raise RequestError("'prompt' must be a string.", "prompt")
        prompt = raw
    n = _integer(body, "n")
    if n not in (None, 1):
        raise RequestError("Only n = 1 is supported.", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be true or false.", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError("'stream_options' must be an object.", "stream_options")
    include_usage = bool((options or {}).get("include_usage", False))
    max_tokens = _integer(body, "max_completion_tokens") if kind == "chat" else None
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens")
    seed = _integer(body, "seed")
    top_k = _integer(body, "top_k")
    values = {"max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
              "temperature": _number(body, "temperature", 1.0), "top_p": _number(body, "top_p", 1.0),
              "top_k": 0 if top_k is None else top_k, "stop": _stop(body), "seed": seed}
    try:
        params = GenerationParams(**values)
    except ValueError as exc:  # a value out of range: the message starts with the field's name
        name = str(exc).split(" ", 1)[0]
        raise RequestError(f"{exc}.", name if name in values else None) from None
    return ParsedRequest(kind, model, prompt, params, stream, include_usage)


def parse_embedding_input(body: Any) -> tuple[str, list[str], str]:
    """(model, inputs, encoding_format) of an embeddings body."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("'model' is required (the id of a ready model).", "model")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
        raise RequestError("'input' must be a non-empty string or a non-empty list of non-empty strings.", "input")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise RequestError("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    return model, inputs, encoding


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _new_id(kind: Kind) -> str:
    return ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex


def response_body(request: ParsedRequest, completion: Completion) -> dict[str, Any]:
    """The non-streaming answer."""
    if request.kind == "chat":
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": completion.text},
                                  "logprobs": None, "finish_reason": completion.finish_reason}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": completion.text, "logprobs": None, "finish_reason": completion.finish_reason}
        obj = "text_completion"
    return {"id": _new_id(request.kind), "object": obj, "created": int(time.time()), "model": request.model,
            "system_fingerprint": None, "choices": [choice],
            "usage": _usage(completion.prompt_tokens, completion.completion_tokens)}


def stream_chunks(request: ParsedRequest, stream: CompletionStream) -> Iterator[dict[str, Any]]:
    """Chunks of a streamed answer, in OpenAI's order: (role,) deltas, finish, (usage)."""
    chat = request.kind == "chat"
    base = {"id": _new_id(request.kind), "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()), "model": request.model, "system_fingerprint": None}
    extra = {"usage": None} if request.include_usage else {}

    def chunk(delta: str | None, finish: str | None = None, role: bool = False) -> dict[str, Any]:
        if chat:
            body: dict[str, Any] = {}
            if role:
                body["role"] = "assistant"
            if delta is not None:
                body["content"] = delta
            choice: dict[str, Any] = {"index": 0, "delta": body, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": delta or "", "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], **extra}

    if chat:
        yield chunk("", role=True)
    for delta in stream:
        yield chunk(delta)
    yield chunk(None if chat else "", stream.finish_reason)
    if request.include_usage:
        yield {**base, "choices": [], "usage": _usage(stream.prompt_tokens, stream.completion_tokens)}


def embeddings_body(model: str, vectors: list[list[float]], prompt_tokens: int, encoding: str) -> dict[str, Any]:
    def encode(vector: list[float]) -> list[float] | str:
        if encoding == "base64":  # what the OpenAI SDK asks for by default: little-endian float32
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        return vector

    return {"object": "list", "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}
