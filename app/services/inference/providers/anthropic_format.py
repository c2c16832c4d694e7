"""Anthropic Messages <-> OpenAI chat: the router speaks OpenAI's format to clients, Anthropic speaks its own.

Three translations, all pure functions over dicts (the `anthropic` SDK does the HTTP):
- `to_messages_request`: an OpenAI chat request -> a Messages request body. Anthropic keeps the system
  prompt outside the turns, requires `max_tokens`, wants tool calls and tool results as content blocks, and
  refuses two turns of the same role in a row, so the turns are rebuilt rather than copied.
- `to_chat_completion`: a Messages answer -> `chat.completion`.
- `StreamTranslator`: Messages stream events -> `chat.completion.chunk`s, one event at a time.

Where other routers went wrong, and what is done here instead (issue 13): every streamed tool-call delta carries
its `index`; a tool called with no arguments gets `"{}"`, never an empty string a client's JSON parser chokes on;
the usage chunk comes last with `choices: []`; an answer that called tools ends with `tool_calls`, streamed too;
cache reads and cache writes count once each in `prompt_tokens` (Anthropic's `input_tokens` excludes both).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from ....errors import ApiError
from .openai_shapes import arguments_object, arguments_text, chunk, completion, error_frame, usage_chunk

DEFAULT_MAX_TOKENS = 4096
SYSTEM_ROLES = ("system", "developer")
ROLES = ("system", "developer", "user", "assistant", "tool")
PART_TYPES = ("text", "image_url")
TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic error type -> (OpenAI error type, code) for an `error` event mid-stream. The router's key being
# refused or the provider failing is not the client's fault (issue 13's status rules: 502 provider_auth_failed,
# 502 provider_error); the provider's own message is kept.
STREAM_ERRORS = {
    "invalid_request_error": ("invalid_request_error", "invalid_request_error"),
    "not_found_error": ("not_found_error", "model_not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "authentication_error": ("server_error", "provider_auth_failed"),
    "permission_error": ("server_error", "provider_auth_failed"),
    "api_error": ("server_error", "provider_error"),
    "overloaded_error": ("server_error", "provider_overloaded"),
}

Block = dict[str, Any]


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _bad(code: str, message: str, param: str) -> ApiError:
    return ApiError(400, code, message, param)


# --- OpenAI request -> Messages request ---------------------------------------------------------------------

def to_messages_request(body: dict[str, Any], model: str, output_limit: int | None) -> dict[str, Any]:
    """Build the Messages body for `model` (the provider's own name, without the router's prefix)."""
    system, turns = _conversation(body.get("messages"))
    request: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(body, output_limit), "messages": turns}
    if system:
        request["system"] = system
    stop = body.get("stop")
    if stop is not None:
        sequences = [stop] if isinstance(stop, str) else stop
        if not isinstance(sequences, list) or not all(isinstance(item, str) for item in sequences):
            raise _bad("invalid_type", _("'%(param)s' must be a string or a list of strings.", param="stop"), "stop")
        if sequences:
            request["stop_sequences"] = sequences
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            request[name] = body[name]
    if body.get("stream"):
        request["stream"] = True
    if isinstance(body.get("user"), str) and body["user"]:
        request["metadata"] = {"user_id": body["user"]}
    request.update(_tools(body))
    return request


def _max_tokens(body: dict[str, Any], output_limit: int | None) -> int:
    """Anthropic requires a limit; OpenAI's is optional, so the model's own output limit stands in for
    "as long as the model can", and 4096 when that limit is not known."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _bad("invalid_value", _("'%(param)s' must be a whole number of at least 1.", param=name), name)
        return value
    return output_limit or DEFAULT_MAX_TOKENS


def _conversation(messages: Any) -> tuple[str, list[dict[str, Any]]]:
    """System and developer messages, wherever they stand, become the one `system` prompt; the rest become
    turns, merged where two of the same role meet (tool results are user turns in Anthropic's format)."""
    if not isinstance(messages, list) or not messages:
        raise _bad("invalid_type", _("'messages' must be a non-empty list of {role, content} objects."), "messages")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad("invalid_type", _("'%(param)s' must be an object with 'role' and 'content'.", param=where),
                       where)
        role = message.get("role")
        if role not in ROLES:
            param = f"{where}.role"
            raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param=param,
                                          values=", ".join(ROLES)), param)
        if role in SYSTEM_ROLES:
            system.extend(block["text"] for block in _text_blocks(message.get("content"), f"{where}.content"))
            continue
        turn_role, blocks = _turn(role, message, where)
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    return "\n\n".join(text for text in system if text), [_tidy(turn) for turn in turns]


def _turn(role: str, message: dict[str, Any], where: str) -> tuple[str, list[Block]]:
    if role == "tool":
        return "user", [_tool_result(message, where)]
    if role == "user":
        return "user", _user_blocks(message.get("content"), f"{where}.content")
    blocks = _text_blocks(message.get("content"), f"{where}.content", allow_refusal=True)
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise _bad("invalid_type", _("'%(param)s' must be a list of {\"type\": \"function\", \"function\": {...}} "
                                     "objects.", param=f"{where}.tool_calls"),
                   f"{where}.tool_calls")
    blocks.extend(_tool_use(call, f"{where}.tool_calls[{number}]") for number, call in enumerate(calls))
    return "assistant", blocks


def _tidy(turn: dict[str, Any]) -> dict[str, Any]:
    """Anthropic refuses empty text blocks next to others (an assistant's `content: ""` beside its tool calls);
    a turn of one text block is sent as a plain string, as a person would write it."""
    blocks = turn["content"]
    if len(blocks) > 1:
        blocks = [block for block in blocks if block.get("type") != "text" or block["text"]] or blocks[:1]
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return {"role": turn["role"], "content": blocks}


def _parts(content: Any, where: str) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _bad("invalid_type", _("'%(param)s' must be a string or a list of content parts.", param=where), where)
    return content


def _part_type(part: Any, where: str, allowed: tuple[str, ...]) -> str:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in allowed:
        param = f"{where}.type"
        raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param=param,
                                      values=", ".join(allowed)), param)
    return kind


def _text_of(part: dict[str, Any], key: str, where: str) -> Block:
    text = part.get(key)
    if not isinstance(text, str):
        param = f"{where}.{key}"
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param=param), param)
    return {"type": "text", "text": text}


def _text_blocks(content: Any, where: str, allow_refusal: bool = False) -> list[Block]:
    """System, assistant and tool contents: text only (an assistant may echo OpenAI's `refusal` part)."""
    allowed = ("text", "refusal") if allow_refusal else ("text",)
    blocks = []
    for number, part in enumerate(_parts(content, where)):
        kind = _part_type(part, f"{where}[{number}]", allowed)
        blocks.append(_text_of(part, kind, f"{where}[{number}]"))
    return blocks


def _user_blocks(content: Any, where: str) -> list[Block]:
    blocks = []
    for number, part in enumerate(_parts(content, where)):
        place = f"{where}[{number}]"
        if _part_type(part, place, PART_TYPES) == "text":
            blocks.append(_text_of(part, "text", place))
        else:
            blocks.append(_image(part.get("image_url"), f"{place}.image_url"))
    return blocks


def _image(image_url: Any, where: str) -> Block:
    """Data URLs travel inline (base64 source); http(s) URLs are fetched by Anthropic itself (url source)."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    param = f"{where}.url" if isinstance(image_url, dict) else where
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if isinstance(url, str) and url.startswith("data:"):
        header, comma, data = url[len("data:"):].partition(",")
        media_type, _semicolon, encoding = header.partition(";")
        if comma and encoding == "base64" and media_type.startswith("image/") and data:
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    raise _bad("invalid_value", _("'%(param)s' must be an http(s) URL or a base64 data URL of an image.",
                                  param=param), param)


def _tool_use(call: Any, where: str) -> Block:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        param = f"{where}.function.name"
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param=param), param)
    if not isinstance(call.get("id"), str) or not call["id"]:
        param = f"{where}.id"
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param=param), param)
    return {"type": "tool_use", "id": call["id"], "name": function["name"],
            "input": arguments_object(function.get("arguments"), f"{where}.function.arguments")}


def _tool_result(message: dict[str, Any], where: str) -> Block:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        param = f"{where}.tool_call_id"
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param=param), param)
    content = message.get("content")
    blocks = content if isinstance(content, str) else _text_blocks(content, f"{where}.content")
    return {"type": "tool_result", "tool_use_id": call_id, "content": blocks}


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    """`tools` and `tool_choice` (auto / required -> any / a named function -> tool / none), and
    `parallel_tool_calls: false` as Anthropic's `disable_parallel_tool_use`. With no tools, neither is sent
    (clients often send `tools: []` with `tool_choice: "none"`)."""
    tools = body.get("tools")
    if not tools:
        return {}
    if not isinstance(tools, list):
        raise _bad_tools("tools")
    fields: dict[str, Any] = {"tools": [_tool(tool, f"tools[{number}]") for number, tool in enumerate(tools)]}
    choice = _tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False and choice.get("type", "auto") != "none":
        choice = {"type": "auto", **choice, "disable_parallel_tool_use": True}
    if choice:
        fields["tool_choice"] = choice
    return fields


def _bad_tools(param: str) -> ApiError:
    return _bad("invalid_type", _("'%(param)s' must be a list of {\"type\": \"function\", \"function\": {...}} "
                                  "objects.", param=param), param)


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise _bad_tools(where)
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        param = f"{where}.function.name"
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param=param), param)
    schema = function.get("parameters")
    if schema is None:
        schema = {"type": "object", "properties": {}}  # Anthropic requires a schema; OpenAI's is optional
    elif not isinstance(schema, dict):
        param = f"{where}.function.parameters"
        raise _bad("invalid_type", _("'%(param)s' must be an object.", param=param), param)
    converted = {"name": function["name"], "input_schema": schema}
    if isinstance(function.get("description"), str) and function["description"]:
        converted["description"] = function["description"]
    return converted


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice is None:
        return {}
    if isinstance(choice, str) and choice in TOOL_CHOICES:
        return {"type": TOOL_CHOICES[choice]}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(function, dict) \
            and isinstance(function.get("name"), str) and function["name"]:
        return {"type": "tool", "name": function["name"]}
    raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param="tool_choice",
                                  values='auto, required, none, {"type": "function", "function": {"name": ...}}'),
               "tool_choice")


# --- Messages answer -> chat.completion ------------------------------------------------------------------------

def finish_reason(stop_reason: str | None) -> str:
    """Anthropic's stop reason in OpenAI's words; an unknown or missing one reads as a plain stop."""
    return FINISH_REASONS.get(stop_reason or "", "stop")


def usage(anthropic_usage: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage. Anthropic's `input_tokens` leaves out the prompt tokens read from or written to its cache,
    so those are added once each; `cached_tokens` is the part read from the cache (priced as cached), and
    `cache_creation_tokens`, when there are any, the part written to it (priced at Anthropic's write price)."""
    numbers = anthropic_usage or {}
    fresh, read, written, output = (numbers.get(name) or 0 for name in (
        "input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"))
    prompt = fresh + read + written
    details = {"cached_tokens": read, **({"cache_creation_tokens": written} if written else {})}
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
            "prompt_tokens_details": details}


def to_chat_completion(message: dict[str, Any], requested_model: str, created: int,
                       make_id: Callable[[], str] = new_completion_id) -> dict[str, Any]:
    """The answer as OpenAI's `chat.completion`, named after the model the client asked for. Its id is
    Anthropic's message id, so the router's history leads to the provider's own records."""
    blocks = message.get("content") or []
    texts = [block.get("text") or "" for block in blocks if block.get("type") == "text"]
    calls = [{"id": block["id"], "type": "function",
              "function": {"name": block["name"], "arguments": arguments_text(block.get("input"))}}
             for block in blocks if block.get("type") == "tool_use"]
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None,
                             "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    return completion(message.get("id") or make_id(), created, requested_model, reply,
                      finish_reason(message.get("stop_reason")), usage(message.get("usage")))


# --- Messages stream -> chat.completion.chunk ----------------------------------------------------------------

def stream_error(error: dict[str, Any] | None) -> dict[str, Any]:
    """An `error` event in OpenAI's envelope, with the provider's own message."""
    error = error or {}
    kind = error.get("type") or "api_error"
    error_type, code = STREAM_ERRORS.get(kind, ("server_error", "provider_error"))
    return error_frame(error_type, code, error.get("message") or kind)


class StreamTranslator:
    """Turns one answer's stream events into chunks. Tool calls are numbered 0, 1, ... in the order they
    start (OpenAI's `index`), whatever Anthropic block index they have, since text and thinking blocks take
    block indexes too. `feed` returns `{"error": ...}` as its last item for an `error` event: the caller
    sends it as an error frame, then `[DONE]`."""

    def __init__(self, requested_model: str, include_usage: bool, created: int,
                 make_id: Callable[[], str] = new_completion_id) -> None:
        self.requested_model = requested_model
        self.include_usage = include_usage
        self.created = created
        self.id = make_id()
        self.finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self._has_arguments: dict[int, bool] = {}  # by Anthropic block index
        self._ended = False

    @property
    def usage(self) -> dict[str, Any] | None:
        """Usage in OpenAI's shape once the stream told it, whether or not the client asked (history, costs)."""
        return None if self._usage is None else usage(self._usage)

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if self._ended:
            return []
        handler = getattr(self, "_on_" + event, None)
        return handler(data) if handler else []  # ping, and events Anthropic may add later

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self.id, self.created, self.requested_model, delta, finish)

    def _tool_delta(self, block_index: int, fields: dict[str, Any]) -> dict[str, Any]:
        return self._chunk({"tool_calls": [{"index": self._tools[block_index], **fields}]})

    def _on_message_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        message = data.get("message") or {}
        if message.get("id"):
            self.id = message["id"]
        self._usage = dict(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content_block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") or {}
        block_index = data.get("index")
        if block.get("type") == "text":
            return [self._chunk({"content": block["text"]})] if block.get("text") else []
        if block.get("type") != "tool_use":
            return []  # thinking blocks: OpenAI's chat format has no place for them
        self._tools[block_index] = len(self._tools)
        chunks = [self._tool_delta(block_index, {"id": block.get("id"), "type": "function",
                                                 "function": {"name": block.get("name"), "arguments": ""}})]
        self._has_arguments[block_index] = bool(block.get("input"))
        if block.get("input"):
            chunks.append(self._tool_delta(block_index, {"function": {"arguments": arguments_text(block["input"])}}))
        return chunks

    def _on_content_block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") or {}
        block_index = data.get("index")
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json") and block_index in self._tools:
            self._has_arguments[block_index] = True
            return [self._tool_delta(block_index, {"function": {"arguments": delta["partial_json"]}})]
        return []

    def _on_content_block_stop(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block_index = data.get("index")
        if block_index in self._tools and not self._has_arguments[block_index]:
            self._has_arguments[block_index] = True
            return [self._tool_delta(block_index, {"function": {"arguments": "{}"}})]
        return []

    def _on_message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        if self._usage is None:
            self._usage = {}
        self._usage.update({name: value for name, value in (data.get("usage") or {}).items() if value is not None})
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        if stop_reason is None or self.finish_reason is not None:
            return []
        return [self._finish(stop_reason)]

    def _finish(self, stop_reason: str | None) -> dict[str, Any]:
        self.finish_reason = finish_reason(stop_reason)
        return self._chunk({}, self.finish_reason)

    def _on_message_stop(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self._ended = True
        chunks = [] if self.finish_reason is not None else [self._finish(None)]
        if self.include_usage:
            chunks.append(usage_chunk(self.id, self.created, self.requested_model, self.usage))
        return chunks

    def _on_error(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self._ended = True
        return [stream_error(data.get("error"))]
