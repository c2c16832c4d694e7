"""Anthropic Messages, through the official `anthropic` SDK; `anthropic_format` does the translating.

The SDK's low-level `post` with `cast_to=object` keeps answers and stream events as Anthropic's JSON, which
the translator reads; typed models would only be turned back into dicts. An `error` event in a stream
reaches us as the SDK's exception and becomes the translator's error frame.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import anthropic
import httpx2
from flask_babel import gettext as _

from . import anthropic_format
from .base import (CloudModel, ProviderSettings, frame_of, interrupted_failure, provider_code, status_failure,
                   timeout_failure, unreachable_failure)
from ....errors import ApiError

MODEL_PAGE = 1000  # Anthropic's largest page of its model list


class AnthropicProvider:
    name = "anthropic"
    label = "Anthropic"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.client = anthropic.Anthropic(api_key=settings.api_key, base_url=settings.base_url, max_retries=0,
                                          timeout=httpx2.Timeout(settings.read_timeout,
                                                                 connect=settings.connect_timeout))
        self.output_limits: dict[str, int] = {}  # model -> its most output tokens, from the model list

    def close(self) -> None:
        self.client.close()

    def _failure(self, exc: anthropic.AnthropicError) -> ApiError:
        if isinstance(exc, anthropic.APITimeoutError):
            return timeout_failure(self.label, self.settings.read_timeout)
        if isinstance(exc, anthropic.APIConnectionError):
            return unreachable_failure(self.label, self.settings.base_url)
        if isinstance(exc, anthropic.APIStatusError):
            error = exc.body.get("error") if isinstance(exc.body, dict) else None
            message = error.get("message") if isinstance(error, dict) and error.get("message") else exc.message
            return status_failure(self.label, exc.status_code, message, self.settings.api_key,
                                  exc.response.headers.get("retry-after"), provider_code(error))
        return status_failure(self.label, 502, str(exc), self.settings.api_key)

    def _post(self, body: dict[str, Any], **options: Any) -> Any:
        try:
            return self.client.post("/v1/messages", body=body, cast_to=object, **options)
        except anthropic.AnthropicError as exc:
            raise self._failure(exc) from None

    def _request(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return anthropic_format.to_messages_request(body, model, self.output_limits.get(model))

    def chat(self, body: dict[str, Any], model: str, requested: str, created: int) -> dict[str, Any]:
        message = self._post(self._request(body, model))
        return anthropic_format.to_chat_completion(message if isinstance(message, dict) else {}, requested, created)

    def chat_stream(self, body: dict[str, Any], model: str, requested: str, created: int) -> Iterator[dict[str, Any]]:
        stream = self._post({**self._request(body, model), "stream": True}, stream=True,
                            stream_cls=anthropic.Stream[object])
        return self._chunks(stream, anthropic_format.StreamTranslator(requested, True, created))

    def _chunks(self, stream: anthropic.Stream[Any], translator: anthropic_format.StreamTranslator
                ) -> Iterator[dict[str, Any]]:
        try:
            for event in stream:
                if isinstance(event, dict):
                    yield from translator.feed(str(event.get("type")), event)
        except anthropic.APIStatusError as exc:  # an `error` event (the SDK raises it) or a late status
            if isinstance(exc.body, dict) and exc.body.get("type") == "error":
                yield from translator.feed("error", exc.body)
            else:
                yield frame_of(self._failure(exc))
        except (anthropic.APIConnectionError, httpx2.HTTPError) as exc:
            timed_out = isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException))
            yield frame_of(interrupted_failure(self.label, timed_out, self.settings.read_timeout))
        finally:
            stream.close()

    def embeddings(self, body: dict[str, Any], model: str, requested: str) -> dict[str, Any]:
        raise ApiError(400, "unsupported_endpoint", _("Anthropic has no embeddings: use an 'openai:' or 'google:' "
                                                      "embedding model, or a local one."), "model")

    def models(self, timeout: float) -> list[CloudModel]:
        try:
            listing = self.client.get("/v1/models", cast_to=object,
                                      options={"params": {"limit": MODEL_PAGE}, "timeout": timeout})
        except anthropic.AnthropicError as exc:
            raise self._failure(exc) from None
        found = []
        for item in (listing or {}).get("data") or []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            output_limit = item.get("max_tokens") if isinstance(item.get("max_tokens"), int) else None
            if output_limit:
                self.output_limits[item["id"]] = output_limit
            context = item.get("max_input_tokens") if isinstance(item.get("max_input_tokens"), int) else None
            found.append(CloudModel(f"{self.name}:{item['id']}", self.name, _timestamp(item.get("created_at")),
                                    context, output_limit))
        return found


def _timestamp(value: Any) -> int:
    """Anthropic's `created_at` (RFC 3339) as Unix seconds; now when it says none."""
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return int(time.time())
