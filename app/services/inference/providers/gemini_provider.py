"""Google Gemini (`generateContent`, `streamGenerateContent?alt=sse`, `batchEmbedContents`), through the official
`google-genai` SDK; `gemini_format` does the translating.

`gemini_format` speaks the REST shapes (camelCase); the SDK's types accept those names and write the same
JSON on the wire, and its answers are dumped back to REST shapes (`by_alias`) for the translator. The API
version is pinned to `v1beta`, where system instructions, tools and JSON schemas live. The SDK's automatic
function calling is off: the client runs its tools, not the router.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pydantic
from flask_babel import gettext as _
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from . import gemini_format
from .base import (CloudModel, ProviderSettings, frame_of, interrupted_failure, provider_code, status_failure,
                   timeout_failure, unreachable_failure)
from ....errors import ApiError

API_VERSION = "v1beta"
MODEL_PAGE = 1000
_CONFIG_SECTIONS = ("systemInstruction", "tools", "toolConfig")


def _rest(answer: pydantic.BaseModel) -> dict[str, Any]:
    """An SDK answer as the REST JSON it was read from."""
    dumped = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
    dumped.pop("sdkHttpResponse", None)
    return dumped


class GeminiProvider:
    name = "google"
    label = "Google Gemini"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.client = genai.Client(api_key=settings.api_key, http_options=types.HttpOptions(
            base_url=settings.base_url, api_version=API_VERSION,
            timeout=round(max(settings.read_timeout, settings.connect_timeout) * 1000)))

    def close(self) -> None:
        self.client.close()

    def _failure(self, exc: Exception) -> ApiError:
        if isinstance(exc, genai_errors.APIError):
            response = exc.response
            headers = getattr(response, "headers", None) or {}
            error = exc.details.get("error") if isinstance(exc.details, dict) else None
            return status_failure(self.label, exc.code, exc.message or "", self.settings.api_key,
                                  headers.get("retry-after"), provider_code(error))
        if isinstance(exc, httpx2.TimeoutException):
            return timeout_failure(self.label, self.settings.read_timeout)
        if isinstance(exc, httpx2.HTTPError):
            return unreachable_failure(self.label, self.settings.base_url)
        if isinstance(exc, pydantic.ValidationError):
            return ApiError(400, "invalid_request", _("The request cannot be sent to %(provider)s: %(problem)s",
                                                      provider=self.label, problem=exc.errors()[0].get("msg", "")))
        raise exc

    def _call(self, method: Any, **arguments: Any) -> Any:
        try:
            return method(**arguments)
        except (genai_errors.APIError, httpx2.HTTPError, pydantic.ValidationError) as exc:
            raise self._failure(exc) from None

    def _arguments(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        request = gemini_format.to_generate_content_request(body)
        config = {**request.get("generationConfig", {}), "automaticFunctionCalling": {"disable": True}}
        config.update({section: request[section] for section in _CONFIG_SECTIONS if section in request})
        return {"model": model, "contents": request["contents"], "config": types.GenerateContentConfig.model_validate(
            config)}

    def chat(self, body: dict[str, Any], model: str, requested: str, created: int) -> dict[str, Any]:
        arguments = self._call(self._arguments, body=body, model=model)
        answer = self._call(self.client.models.generate_content, **arguments)
        return gemini_format.to_chat_completion(_rest(answer), requested, created)

    def chat_stream(self, body: dict[str, Any], model: str, requested: str, created: int) -> Iterator[dict[str, Any]]:
        arguments = self._call(self._arguments, body=body, model=model)
        stream = self._call(self.client.models.generate_content_stream, **arguments)
        translator = gemini_format.StreamTranslator(requested, True, created)
        try:  # the SDK sends the request when the stream is first read: its failures are the request's
            first = next(stream)
        except StopIteration:
            first = None
        except (genai_errors.APIError, httpx2.HTTPError) as exc:
            raise self._failure(exc) from None
        return self._chunks(stream, first, translator)

    def _chunks(self, stream: Iterator[types.GenerateContentResponse], first: types.GenerateContentResponse | None,
                translator: gemini_format.StreamTranslator) -> Iterator[dict[str, Any]]:
        try:
            if first is not None:
                yield from translator.feed(_rest(first))
                for answer in stream:
                    yield from translator.feed(_rest(answer))
            yield from translator.finish()
        except genai_errors.APIError as exc:
            yield frame_of(self._failure(exc))
        except httpx2.HTTPError as exc:
            yield frame_of(interrupted_failure(self.label, isinstance(exc, httpx2.TimeoutException),
                                               self.settings.read_timeout))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def embeddings(self, body: dict[str, Any], model: str, requested: str) -> dict[str, Any]:
        request = gemini_format.to_embed_request(body, model)
        dimensions = request["requests"][0].get("outputDimensionality")
        answer = self._call(self.client.models.embed_content, model=model,
                            contents=[item["content"] for item in request["requests"]],
                            config={"outputDimensionality": dimensions} if dimensions is not None else None)
        return gemini_format.to_embeddings_response(_rest(answer), requested, body.get("encoding_format") or "float")

    def models(self, timeout: float) -> list[CloudModel]:
        listing = self._call(self.client.models.list, config={
            "page_size": MODEL_PAGE, "http_options": {"timeout": round(timeout * 1000), "api_version": API_VERSION}})
        found = []
        try:
            for model in listing:
                name = (model.name or "").removeprefix("models/")
                if name:
                    found.append(CloudModel(f"{self.name}:{name}", self.name, 0, model.input_token_limit,
                                            model.output_token_limit))
        except (genai_errors.APIError, httpx2.HTTPError) as exc:  # a later page
            raise self._failure(exc) from None
        return found
