"""Gemini's `generateContent` / `streamGenerateContent?alt=sse` and `batchEmbedContents` <-> the OpenAI format.

Pure functions over dicts (the HTTP client is the `google-genai` SDK, wired elsewhere). Gemini's REST JSON
is camelCase. What the translation decides, and why:

- Roles become `user` / `model`; `system` and `developer` messages, wherever they stand, go into
  `systemInstruction` (Gemini has no system turn). `tool` messages become `functionResponse` parts in a
  `user` turn, named after the assistant tool call they answer (Gemini matches responses by name, OpenAI by
  id). Consecutive turns of one role are merged, so the function responses of one answer form one turn, as
  Gemini requires.
- `n` above 1 is refused: the answer translates the first candidate only, and an OpenAI client asking for
  several choices must not silently get one.
- JSON schemas (`response_format` and tool `parameters`) are cut down to the OpenAPI subset Gemini's
  `Schema` takes: OpenAI's strict mode always sends `additionalProperties: false`, which Gemini refuses
  with a 400; `$ref`s are inlined, `["string", "null"]` types become `nullable`.
- Gemini makes no tool call ids: the router makes them (`make_id`). A tool call's `thoughtSignature`, which
  Gemini 3 needs back on the next turn, rides in `extra_content.google.thought_signature` as in Google's
  own OpenAI-compatible endpoint, and is sent back from there.
- Finish reasons: a tool-calling answer ends with `tool_calls`, streamed too (LiteLLM #12240); a malformed
  or unexpected tool call is an error, never `stop` (LiteLLM #21744).
- Usage: `promptTokenCount` already holds the cached tokens, so `cached_tokens` is a detail of
  `prompt_tokens`, never added to it (LiteLLM #9812); thinking tokens are output tokens.
- Images must be inline (data URLs): the router does not fetch URLs for a provider.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import struct
from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from ....errors import ApiError, error_type
from .openai_shapes import arguments_object, arguments_text, chunk, completion, error_frame, usage_chunk

IdMaker = Callable[[], str]

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "BLOCKLIST": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
# The model tried to call a tool and failed: the answer holds no usable call, so it is an error, never `stop`.
TOOL_CALL_FAILURES = ("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS")
TOOL_CHOICE_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
PART_TYPES = ("text", "image_url", "input_audio", "file")
ROLES = ("system", "developer", "user", "assistant", "tool")
# The keys of Gemini's `Schema` (an OpenAPI 3.0 subset); anything else in a JSON schema is dropped.
SCHEMA_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
})
DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)(?:;[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)


def default_id() -> str:
    return "call_" + secrets.token_hex(12)


def _bad(code: str, message: str, param: str | None) -> ApiError:
    return ApiError(400, code, message, param)


# --- Request: OpenAI chat -> generateContent -------------------------------------------------------------


def to_generate_content_request(body: dict[str, Any]) -> dict[str, Any]:
    """The generateContent body for an OpenAI chat request (the model goes in the URL, not the body)."""
    system, contents = _contents(body.get("messages") or [])
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    config = _generation_config(body)
    if config:
        request["generationConfig"] = config
    declarations = _function_declarations(body)
    if declarations:
        request["tools"] = [{"functionDeclarations": declarations}]
    calling = _function_calling_config(body)
    if calling:
        request["toolConfig"] = {"functionCallingConfig": calling}
    return request


def _contents(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}  # tool call id -> function name, for the `tool` messages that answer them
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad("invalid_type", _("'%(param)s' must be an object.", param=where), where)
        role = message.get("role")
        if role not in ROLES:
            raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param=f"{where}.role",
                                          values=", ".join(ROLES)), f"{where}.role")
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content"), f"{where}.content"))
            continue
        if role == "tool":
            _append(contents, "user", [_function_response(message, where, tool_names)])
            continue
        parts = _parts(message.get("content"), f"{where}.content")
        if role == "assistant":
            parts += _function_calls(message.get("tool_calls"), f"{where}.tool_calls", tool_names)
        _append(contents, "model" if role == "assistant" else "user", parts)
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Merge a turn into the previous one of the same role (see the module docstring); drop empty turns."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise _bad("invalid_type", _("'%(param)s' must be a string or a list of content parts.", param=where), where)
    parts = []
    for index, part in enumerate(content):
        converted = _part(part, f"{where}[{index}]")
        if converted is not None:
            parts.append(converted)
    return parts


def _part(part: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        raise _bad("invalid_type", _("'%(param)s' must be an object.", param=where), where)
    kind = part.get("type")
    if kind in ("text", "refusal"):  # a refusal echoed back in an assistant turn is its text
        text = part.get(kind)
        if not isinstance(text, str):
            raise _bad("invalid_type", _("'%(param)s' must be a non-empty string.", param=f"{where}.{kind}"),
                       f"{where}.{kind}")
        return {"text": text} if text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return _inline_data(url, f"{where}.image_url.url")
    if kind == "input_audio":
        audio = part.get("input_audio")
        audio = audio if isinstance(audio, dict) else {}
        data, audio_format = audio.get("data"), audio.get("format")
        for name, value in (("data", data), ("format", audio_format)):
            if not isinstance(value, str) or not value:
                param = f"{where}.input_audio.{name}"
                raise _bad("invalid_type", _("'%(param)s' must be a non-empty string.", param=param), param)
        return {"inlineData": {"mimeType": f"audio/{audio_format}", "data": data}}
    if kind == "file":
        file = part.get("file")
        data = file.get("file_data") if isinstance(file, dict) else None
        if data is None:
            param = f"{where}.file.file_data"
            raise _bad("missing_required_parameter", _("'%(param)s' is required.", param=param), param)
        return _inline_data(data, f"{where}.file.file_data")
    raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param=f"{where}.type",
                                  values=", ".join(PART_TYPES)), f"{where}.type")


def _inline_data(url: Any, where: str) -> dict[str, Any]:
    """A data URL becomes `inlineData`; Gemini cannot fetch a web address and the router will not."""
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        raise _bad("unsupported_value", _("'%(param)s' is a web address, and the router does not fetch URLs for "
                                          "Gemini. Send it inline as a data URL "
                                          "(data:image/png;base64,...).", param=where), where)
    match = DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if match is None:
        raise _bad("invalid_value", _("'%(param)s' must be a data URL with base64 data "
                                      "(data:image/png;base64,...).", param=where), where)
    return {"inlineData": {"mimeType": match["mime"], "data": match["data"]}}


def _function_calls(tool_calls: Any, where: str, tool_names: dict[str, str]) -> list[dict[str, Any]]:
    if not tool_calls:  # SDKs echo an earlier answer back with `"tool_calls": null`
        return []
    if not isinstance(tool_calls, list):
        raise _bad("invalid_type", _("'%(param)s' must be a list.", param=where), where)
    parts = []
    for index, call in enumerate(tool_calls):
        at = f"{where}[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            param = f"{at}.function.name"
            raise _bad("invalid_type", _("'%(param)s' must be a non-empty string.", param=param), param)
        if isinstance(call.get("id"), str):
            tool_names[call["id"]] = name
        arguments = arguments_object(function.get("arguments"), f"{at}.function.arguments")
        part: dict[str, Any] = {"functionCall": {"name": name, "args": arguments}}
        signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if isinstance(signature, str):
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(message: dict[str, Any], where: str, tool_names: dict[str, str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = tool_names.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        param = f"{where}.tool_call_id"
        raise _bad("invalid_value", _("'%(param)s' must be the id of a tool call in an earlier assistant "
                                      "message.", param=param), param)
    text = "".join(part.get("text", "") for part in _parts(message.get("content"), f"{where}.content"))
    return {"functionResponse": {"name": name, "response": _response_object(text)}}


def _response_object(text: str) -> dict[str, Any]:
    """Gemini's `response` must be an object: a JSON object goes as it is, anything else as {"content": ...}."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    n = body.get("n")
    if n is not None and n != 1:
        raise _bad("invalid_value", _("Only n = 1 is supported."), "n")
    config: dict[str, Any] = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty"),
                         ("seed", "seed")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    config.update(_response_format(body.get("response_format")))
    return config


def _response_format(response_format: Any) -> dict[str, Any]:
    if response_format is None:
        return {}
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            param = "response_format.json_schema.schema"
            raise _bad("invalid_type", _("'%(param)s' must be an object.", param=param), param)
        return {"responseMimeType": "application/json",
                "responseSchema": gemini_schema(schema, "response_format.json_schema.schema")}
    raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param="response_format.type",
                                  values="text, json_object, json_schema"), "response_format.type")


def gemini_schema(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """A JSON schema cut down to Gemini's `Schema` (see the module docstring)."""
    definitions = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _schema(schema, definitions, (), where)


def _schema(schema: Any, definitions: dict[str, Any], seen: tuple[str, ...], where: str) -> Any:
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in definitions:
            raise _bad("invalid_value", _("'%(param)s' holds the reference %(ref)s, which Gemini cannot take: "
                                          "its schemas cannot refer to themselves or outside.", param=where,
                                          ref=ref), where)
        return _schema(definitions[name], definitions, seen + (name,), where)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "type" and isinstance(value, list):
            types = [item for item in value if item != "null"]
            if len(types) == 1:
                out["type"] = types[0]
            else:
                out["anyOf"] = [{"type": item} for item in types]
            if "null" in value:
                out["nullable"] = True
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(item, definitions, seen, where) for name, item in value.items()}
        elif key == "items":
            out[key] = _schema(value, definitions, seen, where)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_schema(item, definitions, seen, where) for item in value]
        elif key in SCHEMA_KEYS:
            out[key] = value
    return out


def _function_declarations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`tools` (and the older `functions`) become one Gemini tool of function declarations."""
    functions: list[tuple[str, Any]] = []
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _bad("invalid_type", _("'%(param)s' must be a list.", param="tools"), "tools")
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param=f"{where}.type",
                                          values="function"), f"{where}.type")
        functions.append((f"{where}.function", tool.get("function")))
    functions += [(f"functions[{index}]", function) for index, function in enumerate(body.get("functions") or [])]
    return [_declaration(function, where) for where, function in functions]


def _declaration(function: Any, where: str) -> dict[str, Any]:
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise _bad("invalid_type", _("'%(param)s' must be a non-empty string.", param=f"{where}.name"),
                   f"{where}.name")
    declaration: dict[str, Any] = {"name": name}
    if isinstance(function.get("description"), str):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict):
        converted = gemini_schema(parameters, f"{where}.parameters")
        # Gemini refuses an object schema without properties: a function that takes nothing declares none.
        if converted.get("type") != "object" or converted.get("properties"):
            declaration["parameters"] = converted
    return declaration


def _function_calling_config(body: dict[str, Any]) -> dict[str, Any]:
    choice, param = body.get("tool_choice"), "tool_choice"
    if choice is None and body.get("function_call") is not None:
        legacy = body["function_call"]
        choice, param = (legacy if isinstance(legacy, str) else {"function": legacy}), "function_call"
    if choice is None:
        return {}
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        return {"mode": TOOL_CHOICE_MODES[choice]}
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(name, str) and name:
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise _bad("invalid_value", _("'%(param)s' must be \"auto\", \"required\", \"none\" or a named function.",
                                  param=param), param)


# --- Answer: generateContent -> OpenAI chat.completion -----------------------------------------------------


def usage_from(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage from `usageMetadata`. Cached tokens are part of `promptTokenCount`: counted once."""
    metadata = metadata or {}
    prompt = metadata.get("promptTokenCount", 0) + metadata.get("toolUsePromptTokenCount", 0)
    thoughts = metadata.get("thoughtsTokenCount", 0)
    completion = metadata.get("candidatesTokenCount", 0) + thoughts
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": metadata.get("cachedContentTokenCount", 0)},
            "completion_tokens_details": {"reasoning_tokens": thoughts}}


def _finish_reason(reason: str | None, called_tool: bool) -> str:
    mapped = FINISH_REASONS.get(reason or "STOP", "stop")
    return "tool_calls" if mapped == "stop" and called_tool else mapped


def _tool_call_failure(candidate: dict[str, Any]) -> ApiError:
    """Gemini's own `finishMessage` (untranslated: the provider's words) follows our sentence."""
    message = _("Gemini ended the answer with %(reason)s, so it holds no usable tool call.",
                reason=candidate.get("finishReason"))
    detail = candidate.get("finishMessage")
    return ApiError(502, "provider_error", f"{message} {detail}" if detail else message)


def _no_candidate() -> ApiError:
    return ApiError(502, "provider_error", _("Gemini answered without a candidate and without saying why."))


def _tool_call(part: dict[str, Any], index: int | None, make_id: IdMaker) -> dict[str, Any]:
    call = part["functionCall"]
    tool_call: dict[str, Any] = {"id": make_id(), "type": "function",
                                 "function": {"name": call.get("name", ""),
                                              "arguments": arguments_text(call.get("args"))}}
    if index is not None:
        tool_call = {"index": index, **tool_call}
    if part.get("thoughtSignature"):
        tool_call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return tool_call


def _split_parts(candidate: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The answer's text (thought summaries left out) and its functionCall parts."""
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(part["text"] for part in parts if isinstance(part.get("text"), str) and not part.get("thought"))
    return text, [part for part in parts if isinstance(part.get("functionCall"), dict)]


def _completion_id(response: dict[str, Any], make_id: IdMaker) -> str:
    return "chatcmpl-" + (response.get("responseId") or make_id())


def to_chat_completion(response: dict[str, Any], requested_model: str, created: int,
                       make_id: IdMaker = default_id) -> dict[str, Any]:
    """An OpenAI `chat.completion` from a generateContent answer (its first candidate: n is 1)."""
    candidates = response.get("candidates") or []
    if candidates:
        candidate = candidates[0]
        if candidate.get("finishReason") in TOOL_CALL_FAILURES:
            raise _tool_call_failure(candidate)
        text, calls = _split_parts(candidate)
        finish = _finish_reason(candidate.get("finishReason"), bool(calls))
    elif (response.get("promptFeedback") or {}).get("blockReason"):
        text, calls, finish = "", [], "content_filter"
    else:
        raise _no_candidate()
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = [_tool_call(part, None, make_id) for part in calls]
    return completion(_completion_id(response, make_id), created, requested_model, message, finish,
                      usage_from(response.get("usageMetadata")))


# --- Stream: streamGenerateContent?alt=sse -> chat.completion.chunk ----------------------------------------


def _error_frame(status: int, code: str, message: str) -> dict[str, Any]:
    return error_frame(error_type(status), code, message)


class StreamTranslator:
    """Turns each SSE object of a Gemini stream into OpenAI chunks. Gemini sends tool calls whole, one
    part each, so each becomes one chunk with its `index`, id, name and all its arguments."""

    def __init__(self, requested_model: str, include_usage: bool, created: int,
                 make_id: IdMaker = default_id) -> None:
        self.requested_model = requested_model
        self.include_usage = include_usage
        self.created = created
        self.make_id = make_id
        self._id: str | None = None
        self._started = False  # the first chunk (with the role) went out
        self._tool_calls = 0
        self._finish: str | None = None  # Gemini's finishReason
        self._blocked = False
        self._saw_candidate = False
        self._metadata: dict[str, Any] | None = None
        self._ended = False  # an error frame went out: nothing follows it

    @property
    def usage(self) -> dict[str, Any] | None:
        """The usage in OpenAI shape (for the history and costs, even when the client did not ask), or None."""
        return usage_from(self._metadata) if self._metadata is not None else None

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        if not self._started:
            delta = {"role": "assistant", **delta}
            self._started = True
        return chunk(self._id or self._make_completion_id({}), self.created, self.requested_model, delta,
                     finish_reason)

    def _make_completion_id(self, data: dict[str, Any]) -> str:
        if self._id is None:
            self._id = _completion_id(data, self.make_id)
        return self._id

    def _fail(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        self._ended = True
        return [frame]

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks for one SSE object; an error frame, when there is one, is the last item."""
        if self._ended:
            return []
        if isinstance(data.get("error"), dict):  # Gemini reports a failure mid-stream in the stream itself
            message = data["error"].get("message") or json.dumps(data["error"], ensure_ascii=False)
            return self._fail(_error_frame(502, "provider_error", message))
        self._make_completion_id(data)
        if data.get("usageMetadata"):
            self._metadata = data["usageMetadata"]
        if (data.get("promptFeedback") or {}).get("blockReason"):
            self._blocked = True
        candidates = data.get("candidates") or []
        if not candidates:
            return []
        candidate = candidates[0]
        self._saw_candidate = True
        if candidate.get("finishReason"):
            self._finish = candidate["finishReason"]
        if self._finish in TOOL_CALL_FAILURES:
            error = _tool_call_failure(candidate)
            return self._fail(_error_frame(error.status, error.code, error.message))
        text, calls = _split_parts(candidate)
        chunks = [self._chunk({"content": text})] if text else []
        for part in calls:
            chunks.append(self._chunk({"tool_calls": [_tool_call(part, self._tool_calls, self.make_id)]}))
            self._tool_calls += 1
        return chunks

    def finish(self) -> list[dict[str, Any]]:
        """At the stream's end: the finish chunk, then the usage chunk (`choices: []`) if the client asked."""
        if self._ended:
            return []
        self._ended = True
        if not self._saw_candidate and not self._blocked:
            error = _no_candidate()
            return [_error_frame(error.status, error.code, error.message)]
        chunks = [] if self._started else [self._chunk({"content": ""})]
        reason = "content_filter" if not self._saw_candidate else _finish_reason(self._finish, self._tool_calls > 0)
        chunks.append(self._chunk({}, reason))
        if self.include_usage:
            chunks.append(usage_chunk(self._id, self.created, self.requested_model, usage_from(self._metadata)))
        return chunks


# --- Embeddings: OpenAI /v1/embeddings <-> batchEmbedContents ---------------------------------------------


def to_embed_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The batchEmbedContents body: one request per input text (Gemini embeds text, not token ids)."""
    texts = body.get("input")
    if texts is None:
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param="input"), "input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise _bad("invalid_value", _("Gemini embeds text only: 'input' must be a string or a non-empty list of "
                                      "strings, not token ids."), "input")
    name = model if model.startswith("models/") else f"models/{model}"
    dimensions = body.get("dimensions")
    requests = []
    for text in texts:
        request: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def _encode(values: list[float], encoding_format: str) -> list[float] | str:
    """OpenAI's base64 form: the float32 values, little-endian."""
    if encoding_format != "base64":
        return values
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def to_embeddings_response(response: dict[str, Any], requested_model: str,
                           encoding_format: str = "float") -> dict[str, Any]:
    """An OpenAI embeddings `list`. Gemini reports no token count for embeddings: 0 unless it says one."""
    data = [{"object": "embedding", "index": index, "embedding": _encode(item.get("values") or [], encoding_format)}
            for index, item in enumerate(response.get("embeddings") or [])]
    tokens = (response.get("usageMetadata") or {}).get("promptTokenCount", 0)
    return {"object": "list", "data": data, "model": requested_model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
