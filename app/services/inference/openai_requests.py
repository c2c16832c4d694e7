"""Cheap checks of OpenAI request bodies before the router picks a node.

Why here and not only on the node: a malformed body would otherwise cost a node slot, a queue
place and a round trip, and a client mistake must never look like a node failure (which would
trigger failover). Only what the router can know is checked — JSON shape and types, OpenAI's
fixed value sets; whether a model can do the request, token limits and prompt contents are the
node's call (its 4xx answer reaches the client unchanged). Fields the router does not know are
left alone: nodes accept and ignore what their engines cannot use. The exception is what would
change the *kind* of answer a client gets — tool calls, structured output, log probabilities,
echo, logit bias: asking for those is refused with a clear 400 (`unsupported_parameter`), never answered with
plain text as if it had been honoured. Their neutral values (`tools: []`, `tool_choice: "none"`,
`response_format: {"type": "text"}`, `logprobs: false`, `logit_bias: {}`) pass, since many clients always send them.

Chat roles follow the node's rule (docs/protocol.md), kept here in the router's own code since router and node
share no code: `system`, `developer` (rendered as `system`), `user` and `assistant` are served; `tool` and
`function` messages (`unsupported_value`) and messages with `tool_calls` or `function_call` (`unsupported_parameter`)
are refused, as there are no tools to have called. tests/support/chat_roles.py holds both sides to the same table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from flask_babel import gettext as _

from ... import json_input
from ...errors import ApiError

Kind = Literal["chat", "completions", "embeddings"]

# Accepted chat role -> the role the node's engines render it as (the node's node_agent/chat_roles.py).
ROLES: dict[str, str] = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
# Tool calling's roles and an assistant message's tool-call fields: refused, there are no tools (module docstring).
TOOL_ROLES = ("tool", "function")
TOOL_FIELDS = ("tool_calls", "function_call")
CLOUD_ROLES = ("system", "developer", "user", "assistant", "tool")  # what every provider's translation takes
ENCODING_FORMATS = ("float", "base64")


@dataclass(frozen=True)
class InferenceRequest:
    """What the router needs from a body. The body itself is forwarded byte for byte, except for a
    stream whose client did not ask for usage: the node is asked for it all the same
    (`node_body`), for the request history, and the relay strips it again (`strip_usage`)."""

    kind: Kind
    model: str
    stream: bool
    node_body: bytes | None = None
    strip_usage: bool = False


def _bad(code: str, message: str, param: str | None) -> ApiError:
    return ApiError(400, code, message, param)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_token_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_int(item) for item in value)


def _texts_or_tokens(value: Any) -> bool:
    """OpenAI's prompt/input forms: a string, or a non-empty list of strings, token ids or token-id lists."""
    if isinstance(value, str):
        return True
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(item, str) for item in value) or _is_token_list(value) \
        or all(_is_token_list(item) for item in value)


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:  # also UnicodeDecodeError
        raise _bad("invalid_json", _("The request body is not valid JSON."), None) from None
    except RecursionError:  # e.g. 50,000 nested '[': deeper than the parser goes
        raise _bad("invalid_json", _("The request body nests JSON too deeply."), None) from None
    if not isinstance(body, dict):
        raise _bad("invalid_body", _("The request body must be a JSON object."), None)
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param="model"), "model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("invalid_type", _("'%(param)s' must be a non-empty string.", param="model"), "model")
    if json_input.has_lone_surrogate(model):  # it reaches database queries, logs and metrics labels, all UTF-8
        raise _bad("invalid_value", _("'%(param)s' must be valid Unicode text (it holds a lone surrogate).",
                                      param="model"), "model")
    return model


def _stream(body: dict[str, Any]) -> bool:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("invalid_type", _("'%(param)s' must be true or false.", param="stream"), "stream")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _bad("invalid_type", _("'%(param)s' must be an object.", param="stream_options"), "stream_options")
        if not stream:
            raise _bad("invalid_value", _("'stream_options' is only allowed when 'stream' is true."),
                       "stream_options")
        include_usage = options.get("include_usage")
        if include_usage is not None and not isinstance(include_usage, bool):
            param = "stream_options.include_usage"
            raise _bad("invalid_type", _("'%(param)s' must be true or false.", param=param), param)
    return bool(stream)


def _sampling(body: dict[str, Any], kind: Kind) -> None:
    n = body.get("n")
    if n is not None and not (_is_int(n) and n == 1):
        raise _bad("invalid_value", _("Only n = 1 is supported."), "n")
    limits = ("max_tokens", "max_completion_tokens") if kind == "chat" else ("max_tokens",)
    for name in limits:
        value = body.get(name)
        if value is not None and not (_is_int(value) and value >= 1):
            raise _bad("invalid_value", _("'%(param)s' must be a whole number of at least 1.", param=name), name)
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = body.get(name)
        if value is not None and not _is_number(value):
            raise _bad("invalid_type", _("'%(param)s' must be a number.", param=name), name)
    for name in ("top_k", "seed"):
        value = body.get(name)
        if value is not None and not _is_int(value):
            raise _bad("invalid_type", _("'%(param)s' must be an integer.", param=name), name)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and \
            not (isinstance(stop, list) and all(isinstance(item, str) for item in stop)):
        raise _bad("invalid_type", _("'%(param)s' must be a string or a list of strings.", param="stop"), "stop")


def _role(message: dict[str, Any], where: str, cloud: bool) -> None:
    """Refuse what the node would refuse (module docstring); a tool-call field counts only when it holds
    something, since SDKs echo an earlier answer back with `"tool_calls": null`. Cloud models take tools."""
    role = message.get("role")
    param = f"{where}.role"
    if cloud:
        if not isinstance(role, str) or role not in CLOUD_ROLES:
            raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param=param,
                                          values=", ".join(CLOUD_ROLES)), param)
        return
    if isinstance(role, str) and role in TOOL_ROLES:
        raise _bad("unsupported_value", _("Tool calling is not supported: the models are served without tools, so "
                                          "'%(param)s' cannot be '%(role)s'.", param=param, role=role), param)
    if not isinstance(role, str) or role not in ROLES:
        raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param=param,
                                      values=", ".join(ROLES)), param)
    for field in TOOL_FIELDS:
        if message.get(field):
            param = f"{where}.{field}"
            raise _unsupported(param, _("Tool calling is not supported: the models are served without tools. Send "
                                        "the request without '%(param)s'.", param=param))


def _messages(body: dict[str, Any], cloud: bool) -> None:
    messages = body.get("messages")
    if messages is None:
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param="messages"), "messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("invalid_type", _("'messages' must be a non-empty list of {role, content} objects."), "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad("invalid_type", _("'%(param)s' must be an object with 'role' and 'content'.", param=where),
                       where)
        _role(message, where, cloud)
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            param = f"{where}.content"
            raise _bad("invalid_type", _("'%(param)s' must be a string or a list of content parts.", param=param),
                       param)


def _prompt(body: dict[str, Any]) -> None:
    if "prompt" not in body or body["prompt"] is None:
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param="prompt"), "prompt")
    if not _texts_or_tokens(body["prompt"]):
        raise _bad("invalid_type", _("'%(param)s' must be a string, or a non-empty list of strings or token ids.",
                                     param="prompt"), "prompt")


def _unsupported(param: str, message: str) -> ApiError:
    return _bad("unsupported_parameter", message, param)


def _features(body: dict[str, Any], kind: Kind) -> None:
    """Refuse requests for kinds of answer the engines cannot give (see the module docstring)."""
    for name in ("tools", "functions"):
        if body.get(name) and body.get("tool_choice", "auto") != "none":
            raise _unsupported(name, _("Tool calling is not supported: the models are served without tools. Send the "
                                       "request without '%(param)s'.", param=name))
    response_format = body.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise _unsupported("response_format", _("Structured output is not supported: 'response_format' may only be "
                                                "{\"type\": \"text\"}."))
    if body.get("logit_bias"):
        raise _unsupported("logit_bias", _("'logit_bias' is not supported."))
    if body.get("logprobs") or body.get("top_logprobs"):
        param = "logprobs" if body.get("logprobs") else "top_logprobs"
        raise _unsupported(param, _("Log probabilities are not supported."))
    if kind == "completions":
        if body.get("echo"):
            raise _unsupported("echo", _("'echo' is not supported."))
        best_of = body.get("best_of")
        if best_of is not None and best_of != 1:
            raise _unsupported("best_of", _("Only best_of = 1 is supported."))


def _embedding_input(body: dict[str, Any]) -> None:
    if "input" not in body or body["input"] is None:
        raise _bad("missing_required_parameter", _("'%(param)s' is required.", param="input"), "input")
    value = body["input"]
    if value == "" or (isinstance(value, list) and "" in value) or not _texts_or_tokens(value):
        raise _bad("invalid_type", _("'input' must be a non-empty string, or a non-empty list of non-empty strings "
                                     "or token ids."), "input")
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ENCODING_FORMATS:
        raise _bad("invalid_value", _("'%(param)s' must be one of: %(values)s.", param="encoding_format",
                                      values=", ".join(ENCODING_FORMATS)), "encoding_format")


def read_model(raw: bytes) -> tuple[dict[str, Any], str]:
    """The body and its model, checked first: a request refused for another field is still recorded
    against the model it named."""
    body = _decode(raw)
    return body, _model(body)


def parse(kind: Kind, raw: bytes) -> InferenceRequest:
    """Check a body; raises ApiError 400 (type invalid_request_error) naming the first bad field."""
    body, model = read_model(raw)
    return check(kind, body, model)


def _asking_usage(body: dict[str, Any]) -> bytes:
    options = body.get("stream_options") or {}
    return json.dumps({**body, "stream_options": {**options, "include_usage": True}},
                      ensure_ascii=False).encode("utf-8")


def check(kind: Kind, body: dict[str, Any], model: str, cloud: bool = False) -> InferenceRequest:
    """The rest of `parse`, for a body whose model `read_model` has read. A `cloud` model's provider can do
    tools, structured output and images: only the shape is checked, the provider's translation does the rest."""
    if kind == "embeddings":
        _embedding_input(body)
        return InferenceRequest(kind, model, False)
    if kind == "chat":
        _messages(body, cloud)
    else:
        _prompt(body)
    stream = _stream(body)
    _sampling(body, kind)
    if not cloud:
        _features(body, kind)
    if stream and (body.get("stream_options") or {}).get("include_usage") is not True:
        return InferenceRequest(kind, model, stream, _asking_usage(body), strip_usage=True)
    return InferenceRequest(kind, model, stream)
