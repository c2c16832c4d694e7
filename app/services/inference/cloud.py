"""`<provider>:<model>` requests: answered by that cloud provider instead of a node (issue 13).

The provider clients (`providers/`) take and give OpenAI-format dicts; this module picks the client, names
the answer after the model the client asked for, and sends it: a whole answer as JSON, a stream as server-
sent events ending in `data: [DONE]` (after an error frame when the provider failed mid-stream). Streams
always carry the provider's usage to the request history, and lose it again before the client sees it
when the client did not ask (`stream_options.include_usage`).

Only `/v1/chat/completions` and `/v1/embeddings` reach providers: the legacy `/v1/completions` is for local
models. A provider that is not configured (no key) is a model that does not exist: 404, naming those that are.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, current_app, g
from flask_babel import gettext as _

from ...errors import ApiError
from . import openai_requests
from .providers.base import frame_of
from .providers.registry import ENVIRONMENT, LABELS, CloudProviders
from .streams import DONE_EVENTS, RecordedStream

log = logging.getLogger(__name__)

_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class CloudStream(RecordedStream):
    """A provider's translated stream on its way to the client; `stream_ended` runs once when it closes."""

    def __init__(self, chunks: Iterator[dict[str, Any]], capture_limit: int, strip_usage: bool,
                 stream_ended: Callable[[], None], label: str) -> None:
        self._chunks = chunks
        self._stream_ended: Callable[[], None] | None = stream_ended
        super().__init__(self._run(label), capture_limit, strip_usage)

    def _run(self, label: str) -> Iterator[bytes]:
        try:
            for chunk in self._chunks:
                yield b"data: " + json.dumps(chunk, ensure_ascii=False).encode("utf-8") + b"\n\n"
                if "error" in chunk:
                    break
        except ApiError as exc:
            yield _event(frame_of(exc))
        except Exception:  # noqa: BLE001 - a translation bug must still end the stream properly
            log.exception("the stream from %s failed in the router", label)
            yield _event(frame_of(ApiError(502, "stream_interrupted", _(
                "The router failed while relaying the answer from %(provider)s; the answer is incomplete.",
                provider=label))))
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        yield DONE_EVENTS[0]

    def _ended(self) -> None:
        stream_ended, self._stream_ended = self._stream_ended, None
        if stream_ended is not None:
            stream_ended()


def _event(frame: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(frame, ensure_ascii=False).encode("utf-8") + b"\n\n"


def _not_configured(requested: str, prefix: str, providers: CloudProviders) -> ApiError:
    configured = providers.configured()
    if configured:
        message = _("The model '%(id)s' does not exist: '%(prefix)s' is not a configured cloud provider. The "
                    "configured ones are: %(providers)s.", id=requested, prefix=prefix,
                    providers=", ".join(f"{name}:" for name in configured))
    else:
        message = _("The model '%(id)s' does not exist: no cloud provider is configured. An administrator sets "
                    "%(variables)s, or the keys on the settings page.", id=requested,
                    variables=", ".join(variables[0] for variables in ENVIRONMENT.values()))
    return ApiError(404, "model_not_found", message, "model")


def answer(kind: openai_requests.Kind, body: dict[str, Any], parsed: openai_requests.InferenceRequest,
           reference: tuple[str, str], upstream_clock: Callable[[float], None], capture_limit: int,
           stream_ended: Callable[[], None]) -> Response:
    """The provider's answer to the current request. `upstream_clock` is told the seconds spent waiting for
    the provider (they are not the router's overhead); `stream_ended` runs when a stream closes."""
    providers: CloudProviders = current_app.extensions["providers"]
    prefix, model = reference
    provider = providers.client(prefix)
    if provider is None or not model:
        raise _not_configured(parsed.model, prefix, providers)
    if kind == "completions":
        raise ApiError(400, "unsupported_endpoint", _("Cloud models answer /v1/chat/completions and /v1/embeddings; "
                                                      "/v1/completions serves local models only."), "model")
    g.inference_node = prefix
    created = int(time.time())
    sent = time.perf_counter()
    try:
        if kind == "embeddings":
            result = provider.embeddings(body, model, parsed.model)
        elif parsed.stream:
            chunks = provider.chat_stream(body, model, parsed.model, created)
        else:
            result = provider.chat(body, model, parsed.model, created)
    finally:
        upstream_clock(time.perf_counter() - sent)
    g.inference_model = parsed.model  # a model the provider took: a bounded set, safe as a metrics label
    if kind != "embeddings" and parsed.stream:
        stream = CloudStream(chunks, capture_limit, parsed.strip_usage, stream_ended, LABELS[prefix])
        return Response(stream, 200, headers=_STREAM_HEADERS, content_type="text/event-stream")
    return Response(json.dumps(result, ensure_ascii=False), 200, content_type="application/json")
