"""OpenAI: requests pass through as the client sent them, through the official `openai` SDK.

Only two things change: the model is named as OpenAI knows it (`gpt-4o`, not `openai:gpt-4o`) on the way
there and as the client asked on the way back, and a stream always asks for usage (the history costs every
stream; the router strips the usage again when the client did not ask). The SDK's low-level `post` is used
with `cast_to=object`, so answers stay the provider's JSON and unknown fields survive untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai

from .base import (CloudModel, ProviderSettings, frame_of, interrupted_failure, provider_code, status_failure,
                   timeout_failure, unreachable_failure)
from ....errors import ApiError


class OpenAIProvider:
    name = "openai"
    label = "OpenAI"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.client = openai.OpenAI(api_key=settings.api_key, base_url=settings.base_url, max_retries=0,
                                    timeout=httpx2.Timeout(settings.read_timeout, connect=settings.connect_timeout))

    def close(self) -> None:
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

    def _post(self, path: str, body: dict[str, Any], **options: Any) -> Any:
        try:
            return self.client.post(path, body=body, cast_to=object, **options)
        except openai.OpenAIError as exc:
            raise self._failure(exc) from None

    def chat(self, body: dict[str, Any], model: str, requested: str, created: int) -> dict[str, Any]:
        answer = self._post("/chat/completions", {**body, "model": model})
        if isinstance(answer, dict):
            answer["model"] = requested
        return answer

    def chat_stream(self, body: dict[str, Any], model: str, requested: str, created: int) -> Iterator[dict[str, Any]]:
        options = body.get("stream_options") or {}
        stream = self._post("/chat/completions", {**body, "model": model, "stream": True,
                                                  "stream_options": {**options, "include_usage": True}},
                            stream=True, stream_cls=openai.Stream[object])
        return self._chunks(stream, requested)

    def _chunks(self, stream: openai.Stream[Any], requested: str) -> Iterator[dict[str, Any]]:
        try:
            for chunk in stream:
                if isinstance(chunk, dict):
                    chunk["model"] = requested
                    yield chunk
        except openai.APIError as exc:  # an error event inside the stream
            failure = status_failure(self.label, 502, exc.message, self.settings.api_key)
            yield frame_of(failure)
        except httpx2.HTTPError as exc:
            yield frame_of(interrupted_failure(self.label, isinstance(exc, httpx2.TimeoutException),
                                               self.settings.read_timeout))
        finally:
            stream.close()

    def embeddings(self, body: dict[str, Any], model: str, requested: str) -> dict[str, Any]:
        answer = self._post("/embeddings", {**body, "model": model})
        if isinstance(answer, dict):
            answer["model"] = requested
        return answer

    def models(self, timeout: float) -> list[CloudModel]:
        try:
            listing = self.client.get("/models", cast_to=object, options={"timeout": timeout})
        except openai.OpenAIError as exc:
            raise self._failure(exc) from None
        return [CloudModel(f"{self.name}:{item['id']}", self.name, int(item.get("created") or 0))
                for item in (listing or {}).get("data") or [] if isinstance(item, dict) and item.get("id")]
