"""Anthropic Messages; `anthropic_format` does the translating.

Requests go over the router's own connections (`transport`) with the official SDK's headers (its key header
and API version); the SDK reads the model list, which also tells each model's output limit (the default
`max_tokens`). An `error` event in a stream becomes the translator's error frame.
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
from .base import (CloudModel, ProviderSettings, frame_of, provider_code, status_failure, timeout_failure,
                   unreachable_failure)
from .transport import ProviderHttp, sdk_credentials
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
        self.http = ProviderHttp(self.name, self.label, settings, sdk_credentials(self.client))

    def close(self) -> None:
        self.http.close()
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

    def _request(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return anthropic_format.to_messages_request(body, model, self.output_limits.get(model))

    def chat(self, body: dict[str, Any], model: str, requested: str, created: int) -> dict[str, Any]:
        message = self.http.answer("/v1/messages", self._request(body, model))
        return anthropic_format.to_chat_completion(message, requested, created)

    def chat_stream(self, body: dict[str, Any], model: str, requested: str, created: int) -> Iterator[dict[str, Any]]:
        events = self.http.events("/v1/messages", {**self._request(body, model), "stream": True})
        return self._chunks(events, anthropic_format.StreamTranslator(requested, True, created))

    def _chunks(self, events: Iterator[tuple[str | None, Any]], translator: anthropic_format.StreamTranslator
                ) -> Iterator[dict[str, Any]]:
        try:
            for name, data in events:
                if isinstance(data, dict):
                    yield from translator.feed(name or str(data.get("type")), data)
        except ApiError as exc:
            yield frame_of(exc)
        finally:
            events.close()  # type: ignore[attr-defined]

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
