"""OpenAI: requests pass through as the client sent them.

Only two things change: the model is named as OpenAI knows it (`gpt-4o`, not `openai:gpt-4o`) on the way
there and as the client asked on the way back, and a stream always asks for usage (the history costs every
stream; the router strips the usage again when the client did not ask). Requests go over the router's own
connections (`transport`, with the official SDK's headers); the SDK reads the model list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai

from .base import (CloudModel, ProviderSettings, frame_of, provider_code, status_failure,
                   timeout_failure, unreachable_failure)
from .transport import ProviderHttp, sdk_credentials
from ....errors import ApiError


class OpenAIProvider:
    name = "openai"
    label = "OpenAI"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.client = openai.OpenAI(api_key=settings.api_key, base_url=settings.base_url, max_retries=0,
                                    timeout=httpx2.Timeout(settings.read_timeout, connect=settings.connect_timeout))
        self.http = ProviderHttp(self.name, self.label, settings, sdk_credentials(self.client))

    def close(self) -> None:
        self.http.close()
        self.client.close()

    def _failure(self, exc: openai.OpenAIError) -> ApiError:
        if isinstance(exc, openai.APITimeoutError):
            return timeout_failure(self.label, self.settings.read_timeout)
        if isinstance(exc, openai.APIConnectionError):
            return unreachable_failure(self.label, self.settings.base_url)
        if isinstance(exc, openai.APIStatusError):
            message = exc.body.get("message") if isinstance(exc.body, dict) and exc.body.get("message") else exc.message
            return status_failure(self.label, exc.status_code, str(message), self.settings.api_key,
                                  exc.response.headers.get("retry-after"), provider_code(exc.body))
        return status_failure(self.label, 502, getattr(exc, "message", str(exc)), self.settings.api_key)

    def chat(self, body: dict[str, Any], model: str, requested: str, created: int) -> dict[str, Any]:
        answer = self.http.answer("/chat/completions", {**body, "model": model})
        answer["model"] = requested
        return answer

    def chat_stream(self, body: dict[str, Any], model: str, requested: str, created: int) -> Iterator[dict[str, Any]]:
        options = body.get("stream_options") or {}
        events = self.http.events("/chat/completions", {**body, "model": model, "stream": True,
                                                        "stream_options": {**options, "include_usage": True}})
        return self._chunks(events, requested)

    def _chunks(self, events: Iterator[tuple[str | None, Any]], requested: str) -> Iterator[dict[str, Any]]:
        try:
            for _name, chunk in events:
                if not isinstance(chunk, dict):
                    continue
                error = chunk.get("error")
                if isinstance(error, dict):  # OpenAI reports a failure after the stream began in the stream
                    failure = status_failure(self.label, 502, str(error.get("message") or ""), self.settings.api_key)
                    yield frame_of(failure)
                    return
                chunk["model"] = requested
                yield chunk
        except ApiError as exc:
            yield frame_of(exc)
        finally:
            events.close()  # type: ignore[attr-defined]

    def embeddings(self, body: dict[str, Any], model: str, requested: str) -> dict[str, Any]:
        answer = self.http.answer("/embeddings", {**body, "model": model})
        answer["model"] = requested
        return answer

    def models(self, timeout: float) -> list[CloudModel]:
        try:
            listing = self.client.get("/models", cast_to=object, options={"timeout": timeout})
        except openai.OpenAIError as exc:
            raise self._failure(exc) from None
        return [CloudModel(f"{self.name}:{item['id']}", self.name, int(item.get("created") or 0))
                for item in (listing or {}).get("data") or [] if isinstance(item, dict) and item.get("id")]
