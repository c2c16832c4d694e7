"""The OpenAI shapes every provider translation gives back: an answer, a stream chunk, the usage chunk, an
error frame, and tool-call arguments (JSON text on OpenAI's side, an object on the providers')."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _

from ....errors import ApiError


def completion(completion_id: str, created: int, model: str, message: dict[str, Any], finish_reason: str,
               usage: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` of one choice, named after the model the client asked for."""
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage}


def chunk(completion_id: str, created: int, model: str, delta: dict[str, Any],
          finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def usage_chunk(completion_id: str, created: int, model: str, usage: dict[str, Any] | None) -> dict[str, Any]:
    """The last chunk when the client asked for `stream_options.include_usage`: no choices at all (a client
    summing the deltas must not meet a choice here)."""
    return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage}


def error_frame(error_type: str, code: str, message: str) -> dict[str, Any]:
    """What a stream sends, in OpenAI's envelope, when the provider fails after it began (then `[DONE]`)."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def arguments_text(arguments: Any) -> str:
    """A provider's tool-call arguments (an object) as OpenAI's JSON text; "{}" for none, never "" (which a
    client's JSON parser refuses)."""
    return json.dumps(arguments, ensure_ascii=False) if arguments else "{}"


def arguments_object(arguments: Any, param: str) -> dict[str, Any]:
    """OpenAI's tool-call arguments (JSON text) as the object a provider wants; empty or missing is `{}`."""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_value", _("'%(param)s' must be the tool's arguments as a JSON object in a "
                                               "string, such as \"{}\".", param=param), param)
    return parsed
