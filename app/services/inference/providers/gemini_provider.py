"""Google Gemini (`generateContent`, `streamGenerateContent?alt=sse`, `batchEmbedContents`); `gemini_format` does the
translating, in the REST API's own shapes.

Requests go over the router's own connections (`transport`) with the key in `x-goog-api-key`, as the official
`google-genai` SDK sends it; the SDK reads the model list. The API version is `v1beta`, where system
instructions, tools and JSON schemas live. The model name becomes part of the URL's path, so only plain
model names are taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx2
from flask_babel import gettext as _
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.genai import version as genai_version

from . import gemini_format
from .base import (CloudModel, ProviderSettings, frame_of, provider_code, status_failure, timeout_failure,
                   unreachable_failure)
from .transport import ProviderHttp
from ....errors import ApiError

API_VERSION = "v1beta"
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MODEL_PAGE = 1000


class GeminiProvider:
    name = "google"
    label = "Google Gemini"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.http = ProviderHttp(self.name, self.label, settings, {
            "x-goog-api-key": settings.api_key, "User-Agent": f"google-genai-sdk/{genai_version.__version__}"})
        self.client = genai.Client(api_key=settings.api_key, http_options=types.HttpOptions(
            base_url=settings.base_url, api_version=API_VERSION,
            timeout=round(max(settings.read_timeout, settings.connect_timeout) * 1000)))

    def close(self) -> None:
        self.http.close()
        self.client.close()

    def _failure(self, exc: Exception) -> ApiError:
        """A model-list failure (the SDK's exceptions) as the client's error."""
        if isinstance(exc, genai_errors.APIError):
            headers = getattr(exc.response, "headers", None) or {}
            error = exc.details.get("error") if isinstance(exc.details, dict) else None
            return status_failure(self.label, exc.code, exc.message or "", self.settings.api_key,
                                  headers.get("retry-after"), provider_code(error))
        if isinstance(exc, httpx2.TimeoutException):
            return timeout_failure(self.label, self.settings.read_timeout)
        return unreachable_failure(self.label, self.settings.base_url)

    def _path(self, model: str, method: str) -> str:
        if not MODEL_NAME.fullmatch(model):  # it becomes part of the URL's path
            raise ApiError(404, "model_not_found", _("'%(model)s' is not a Gemini model name.", model=model),
                           "model")
        return f"/{API_VERSION}/models/{model}:{method}"

    def chat(self, body: dict[str, Any], model: str, requested: str, created: int) -> dict[str, Any]:
        request = gemini_format.to_generate_content_request(body)
        answer = self.http.answer(self._path(model, "generateContent"), request)
        return gemini_format.to_chat_completion(answer, requested, created)

    def chat_stream(self, body: dict[str, Any], model: str, requested: str, created: int) -> Iterator[dict[str, Any]]:
        request = gemini_format.to_generate_content_request(body)
        events = self.http.events(self._path(model, "streamGenerateContent") + "?alt=sse", request)
        return self._chunks(events, gemini_format.StreamTranslator(requested, True, created))

    def _chunks(self, events: Iterator[tuple[str | None, Any]], translator: gemini_format.StreamTranslator
                ) -> Iterator[dict[str, Any]]:
        try:
            for _name, data in events:
                if isinstance(data, dict):
                    yield from translator.feed(data)
            yield from translator.finish()
        except ApiError as exc:
            yield frame_of(exc)
        finally:
            events.close()  # type: ignore[attr-defined]

    def embeddings(self, body: dict[str, Any], model: str, requested: str) -> dict[str, Any]:
        request = gemini_format.to_embed_request(body, model)
        answer = self.http.answer(self._path(model, "batchEmbedContents"), request)
        return gemini_format.to_embeddings_response(answer, requested, body.get("encoding_format") or "float")

    def models(self, timeout: float) -> list[CloudModel]:
        found = []
        try:
            for model in self.client.models.list(config={"page_size": MODEL_PAGE, "http_options": {
                    "timeout": round(timeout * 1000), "api_version": API_VERSION}}):
                name = (model.name or "").removeprefix("models/")
                if name:
                    found.append(CloudModel(f"{self.name}:{name}", self.name, 0, model.input_token_limit,
                                            model.output_token_limit))
        except (genai_errors.APIError, httpx2.HTTPError) as exc:
            raise self._failure(exc) from None
        return found
