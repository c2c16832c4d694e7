"""Which cloud providers this router uses now, their clients, and their model lists.

Per process (`app.extensions["providers"]`, made by `create_app`). A provider is configured when it has a
key; its client (the SDK's, with its connection pool) is made once and made again only when the key, base
URL or time limits change, so a settings change applies at the next request without a restart.

Model lists: each provider's own list is read within `model_list_timeout` (10 s), kept `model_list_ttl` (24 h),
and kept stale when a later read fails; a provider whose list cannot be read is left out of `/v1/models`
and tried again after `RETRY_FAILED_LIST_SECONDS`, so a provider that is down costs one slow list, not one
per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ....errors import ApiError
from .anthropic_provider import AnthropicProvider
from .base import CloudModel, CloudProvider, ProviderSettings
from .gemini_provider import GeminiProvider
from .openai_provider import OpenAIProvider

log = logging.getLogger(__name__)

RETRY_FAILED_LIST_SECONDS = 60.0
FACTORIES: dict[str, Callable[[ProviderSettings], CloudProvider]] = {
    "openai": OpenAIProvider, "anthropic": AnthropicProvider, "google": GeminiProvider}
# provider -> the environment variables (and config keys) of its key and base URL, and the URL's default
ENVIRONMENT: dict[str, tuple[str, str, str]] = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    "google": ("GEMINI_API_KEY", "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
}
LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google Gemini"}


def cloud_reference(model: str) -> tuple[str, str] | None:
    """(`prefix`, model) of `prefix:model`, or None for a local model id. Local ids never have a colon
    before their first slash (`org/name:q4_k_m`, `qwen3-0.6b`), so `openai:gpt-4o` cannot be one."""
    prefix, colon, rest = model.partition(":")
    if not colon or not prefix or "/" in prefix:
        return None
    return prefix, rest


@dataclass
class _ModelList:
    models: list[CloudModel]
    fetched: float  # monotonic; 0 when never read
    failed: float = 0.0  # monotonic time of the last failed read


class CloudProviders:
    def __init__(self, settings: Mapping[str, ProviderSettings], model_list_ttl: float,
                 model_list_timeout: float) -> None:
        self._settings = dict(settings)
        self._clients: dict[str, CloudProvider] = {}
        self._lists: dict[str, _ModelList] = {}
        self._lock = threading.Lock()
        self.model_list_ttl = model_list_ttl
        self.model_list_timeout = model_list_timeout

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> "CloudProviders":
        return cls(settings_from(config), float(config["CLOUD_MODELS_TTL_SECONDS"]),  # type: ignore[arg-type]
                   float(config["CLOUD_MODELS_TIMEOUT_SECONDS"]))  # type: ignore[arg-type]

    def configure(self, settings: Mapping[str, ProviderSettings]) -> None:
        """Use these providers from now on (those left out have no key); clients of changed ones are remade."""
        with self._lock:
            for name in set(self._settings) | set(settings):
                if self._settings.get(name) != settings.get(name):
                    client = self._clients.pop(name, None)
                    if client is not None:
                        client.close()
                    self._lists.pop(name, None)
            self._settings = dict(settings)

    def configured(self) -> list[str]:
        return [name for name in FACTORIES if name in self._settings]

    def client(self, name: str) -> CloudProvider | None:
        with self._lock:
            client = self._clients.get(name)
            if client is None and name in self._settings:
                client = self._clients[name] = FACTORIES[name](self._settings[name])
            return client

    def models(self, name: str) -> list[CloudModel]:
        """The provider's model list: fresh, cached, stale after a failed read, or empty if never read."""
        with self._lock:
            cached = self._lists.get(name)
        now = time.monotonic()
        if cached is not None and (now - cached.fetched < self.model_list_ttl
                                   or now - cached.failed < RETRY_FAILED_LIST_SECONDS):
            return cached.models
        client = self.client(name)
        if client is None:
            return []
        try:
            models = client.models(self.model_list_timeout)
        except ApiError as exc:
            log.warning("the model list of %s could not be read (%s); %s", LABELS[name], exc.message,
                        "keeping the last one" if cached and cached.models else "leaving it out of /v1/models")
            with self._lock:
                self._lists[name] = _ModelList(cached.models if cached else [], cached.fetched if cached else 0.0, now)
            return cached.models if cached else []
        with self._lock:
            self._lists[name] = _ModelList(models, time.monotonic())
        return models

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def settings_from(config: Mapping[str, object]) -> dict[str, ProviderSettings]:
    """The providers with a key in `config`, as the environment (or, later, the settings page) set them."""
    found = {}
    for name, (key_name, url_name, default_url) in ENVIRONMENT.items():
        key = config.get(key_name)
        if key:
            found[name] = ProviderSettings(str(key), str(config.get(url_name) or default_url).rstrip("/"),
                                           float(config["PROVIDER_CONNECT_TIMEOUT_SECONDS"]),  # type: ignore[arg-type]
                                           float(config["PROVIDER_READ_TIMEOUT_SECONDS"]))  # type: ignore[arg-type]
    return found
