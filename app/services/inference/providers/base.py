"""What every cloud provider client is, and the one rule for what a provider's failure becomes for the client.

A provider client (`openai_provider`, `anthropic_provider`, `gemini_provider`) takes OpenAI-format requests and
gives OpenAI-format answers as dicts. Requests travel over the router's own connections (`transport`: the SDKs
cost the proxy's budget, measured there), model lists through the provider's official SDK (retries off: the
router decides). Its failures reach the client as `ApiError`s made here, so the mapping is the same for all three:

- the provider's 400, 404, 409, 413, 422 (the request's fault): that status, with the provider's own message;
- its 429: 429, keeping `Retry-After`;
- its 401 or 403: 502 `provider_auth_failed` (the router's key was refused, not the client's);
- its 5xx (or any other status): 502 `provider_error`;
- no answer in time: 504 `provider_timeout`; a connection refused or broken: 502 `provider_unreachable`.

A provider's message may quote the key it refused (OpenAI quotes part of it): the key is cut out of every
message before it goes anywhere, and an auth failure never carries the provider's message at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from flask_babel import gettext as _

from ....errors import ApiError, error_type
from .openai_shapes import error_frame

CLIENT_FAULT_STATUSES = frozenset({400, 404, 409, 413, 422})
MAX_PROVIDER_MESSAGE = 2000  # characters of a provider's error message passed on


@dataclass(frozen=True)
class ProviderSettings:
    """How to reach one provider: its key and base URL (as its SDK takes it), and the time limits."""

    api_key: str
    base_url: str
    connect_timeout: float
    read_timeout: float


@dataclass(frozen=True)
class CloudModel:
    """One model of a provider's own list, as `/v1/models` and the Models page show it."""

    id: str  # with the provider's prefix: "anthropic:claude-sonnet-4-5"
    provider: str
    created: int
    context_window: int | None = None
    output_limit: int | None = None


class CloudProvider(Protocol):
    name: str  # the model prefix: "openai", "anthropic", "google"
    label: str  # as people write it: "OpenAI"

    def chat(self, body: dict[str, Any], model: str, requested: str, created: int) -> dict[str, Any]:
        """A `chat.completion` for an OpenAI chat body (its `model` not yet changed to `model`)."""

    def chat_stream(self, body: dict[str, Any], model: str, requested: str, created: int) -> Iterator[dict[str, Any]]:
        """The answer's `chat.completion.chunk`s, the usage chunk last (always: the history costs every
        stream), or an `{"error": ...}` frame last when the provider failed mid-stream. Failures before the
        stream began are raised (ApiError) when the iterator is made, not when it is first read."""

    def embeddings(self, body: dict[str, Any], model: str, requested: str) -> dict[str, Any]:
        """An OpenAI embeddings `list`."""

    def models(self, timeout: float) -> list[CloudModel]:
        """The provider's own model list, read within `timeout` s (raises ApiError when it cannot be)."""

    def close(self) -> None:
        """Let the SDK client's connections go."""


def scrub(message: str, secret: str) -> str:
    """`message` without `secret` in it, and bounded: a provider's words, safe to show."""
    if secret:
        message = message.replace(secret, "[redacted]")
    return message[:MAX_PROVIDER_MESSAGE]


def status_failure(label: str, status: int, message: str, secret: str, retry_after: str | None = None,
                   code: str | None = None) -> ApiError:
    """The client's error for a provider that answered `status` (module docstring)."""
    said = scrub(message, secret) or _("no message")
    if status in (401, 403):
        return ApiError(502, "provider_auth_failed",
                        _("%(provider)s refused the router's API key (HTTP %(status)d). An administrator must check "
                          "the key on the settings page or in the environment.", provider=label, status=status))
    if status == 429:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return ApiError(429, "rate_limit_exceeded", _("%(provider)s is limiting requests: %(message)s",
                                                      provider=label, message=said), None, headers)
    if status in CLIENT_FAULT_STATUSES:
        return ApiError(status, code or ("model_not_found" if status == 404 else "provider_refused_request"),
                        _("%(provider)s refused the request: %(message)s", provider=label, message=said))
    return ApiError(502, "provider_error", _("%(provider)s failed (HTTP %(status)d): %(message)s", provider=label,
                                             status=status, message=said))


def timeout_failure(label: str, seconds: float) -> ApiError:
    return ApiError(504, "provider_timeout", _("%(provider)s did not answer within %(seconds)s s.", provider=label,
                                               seconds=f"{seconds:g}"))


def unreachable_failure(label: str, base_url: str) -> ApiError:
    return ApiError(502, "provider_unreachable", _("%(provider)s could not be reached at %(url)s.", provider=label,
                                                   url=base_url))


def interrupted_failure(label: str, timed_out: bool, seconds: float) -> ApiError:
    """A stream that stopped arriving, or whose connection broke, after it began."""
    if timed_out:
        return ApiError(504, "provider_timeout", _("%(provider)s stopped sending in the middle of the answer for "
                                                   "%(seconds)s s; the answer is incomplete.", provider=label,
                                                   seconds=f"{seconds:g}"))
    return ApiError(502, "stream_interrupted", _("The connection to %(provider)s broke in the middle of the answer; "
                                                 "the answer is incomplete.", provider=label))


def frame_of(failure: ApiError) -> dict[str, Any]:
    """A failure after a stream began, as the error frame the client gets before `[DONE]`."""
    return error_frame(error_type(failure.status), failure.code, failure.message)


def provider_code(error: Any) -> str | None:
    """A provider's own error code, when its error body has a usable one."""
    if isinstance(error, dict):
        for key in ("code", "type", "status"):
            value = error.get(key)
            if isinstance(value, str) and value and len(value) <= 64 and value.replace("_", "").isalnum():
                return value
    return None
