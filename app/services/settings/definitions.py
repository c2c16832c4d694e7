"""The settings an admin may change on the settings page (`/settings`, `/v0/settings`): one table.

Each entry names the setting as the API does, the `app.config` key every other module reads, and the
environment variable that sets the same key at start (`app/config.py`): when that variable is set, the
environment wins and the page shows the setting read-only. A stored value is checked by the same converter
the environment's value goes through, so a value the page accepts is one the router could have started with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from ...config import environment_entry
from ..catalog.cloud_prices import SHIPPED_PRICES, load_prices, with_overrides

MAX_SECRET_LENGTH = 4096
SECTIONS: dict[str, LazyString] = {
    "providers": _l("Cloud providers"),
    "history": _l("Request history"),
    "alerts": _l("Alerts"),
    "dashboard": _l("Dashboard"),
    "costs": _l("Costs"),
}


class InvalidSetting(ValueError):
    """A value the setting cannot take; `message` is a translated sentence naming the setting."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass(frozen=True)
class Definition:
    name: str  # as the API and the page's fields name it
    config_key: str
    env_variable: str | None  # None: only the settings page sets it
    section: str
    kind: str  # how the page shows it: secret, url, integer, number, language, time_zone, json
    label: LazyString
    help: LazyString
    invalid: LazyString  # the sentence of a 400 for a value it cannot take
    default: Any
    convert: Callable[[Any], Any]  # the JSON value sent -> the config value; raises ValueError

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    def validate(self, value: Any) -> Any:
        """The config value for `value` as a client sent it, or `InvalidSetting` naming this setting."""
        try:
            return self.convert(value)
        except (ValueError, TypeError) as exc:
            detail = str(exc) if self.kind == "json" else ""
            message = str(self.invalid) + (f" ({detail})" if detail else "")
            raise InvalidSetting(self.name, message) from None


def _text(value: Any) -> str:
    """What a form or a client sends for a scalar: a string, or a number (never true/false, a list, an object)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("not a scalar")
    return value.strip() if isinstance(value, str) else str(value)


def _from_environment(variable: str) -> Callable[[Any], Any]:
    """The environment's own converter (app/config.py) for this variable; numbers must be finite."""
    entry = environment_entry(variable)
    assert entry is not None, variable
    convert = entry[2]

    def checked(value: Any) -> Any:
        result = convert(_text(value))
        if isinstance(result, float) and not math.isfinite(result):
            raise ValueError("not a finite number")
        return result
    return checked


def _secret(convert: Callable[[str], Any] | None = None) -> Callable[[Any], Any]:
    def checked(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("not text")
        text = value.strip()
        if not text or len(text) > MAX_SECRET_LENGTH or any(char.isspace() or ord(char) < 32 for char in text):
            raise ValueError("empty, too long, or with spaces")
        return convert(text) if convert else text
    return checked


def _price_overrides(value: Any) -> list[dict[str, Any]]:
    """Entries as in cloud_prices.json, checked against the shipped table (a duplicate or a bad field names
    its index and field)."""
    if not isinstance(value, list):
        raise ValueError("expected a list of entries")
    with_overrides(load_prices(SHIPPED_PRICES), value)
    return value


def _default(variable: str, fallback: Any = None) -> Any:
    entry = environment_entry(variable)
    return entry[1] if entry else fallback


def _provider(prefix: str, label: str, variable: str) -> list[Definition]:
    url_variable = variable.replace("_API_KEY", "_BASE_URL")
    return [
        Definition(f"{prefix}_api_key", variable, variable, "providers", "secret",
                   _l("%(provider)s API key", provider=label),
                   _l("The key the router uses for %(provider)s models; without one, the provider is not used.",
                      provider=label),
                   _l("The %(provider)s API key must be one line of text without spaces.", provider=label),
                   None, _secret()),
        Definition(f"{prefix}_base_url", url_variable, url_variable, "providers", "url",
                   _l("%(provider)s base URL", provider=label),
                   _l("Where the router sends %(provider)s requests, as the provider's SDK takes it.",
                      provider=label),
                   _l("The %(provider)s base URL must be an http:// or https:// URL.", provider=label),
                   _default(url_variable), _from_environment(url_variable)),
    ]


DEFINITIONS: tuple[Definition, ...] = (
    *_provider("openai", "OpenAI", "OPENAI_API_KEY"),
    *_provider("anthropic", "Anthropic", "ANTHROPIC_API_KEY"),
    *_provider("gemini", "Google Gemini", "GEMINI_API_KEY"),
    Definition("request_history_days", "REQUEST_HISTORY_DAYS", "LLM_ROUTER_REQUEST_HISTORY_DAYS", "history", "number",
               _l("Days kept"),
               _l("Days each request is kept in the request history. 0 turns the history off."),
               _l("Days kept must be a number, 0 or more."),
               _default("LLM_ROUTER_REQUEST_HISTORY_DAYS"), _from_environment("LLM_ROUTER_REQUEST_HISTORY_DAYS")),
    Definition("request_history_max_body_bytes", "REQUEST_HISTORY_MAX_BODY_BYTES",
               "LLM_ROUTER_REQUEST_HISTORY_MAX_BODY_BYTES", "history", "integer",
               _l("Body size kept (bytes)"),
               _l("The most bytes of each request and answer the history keeps; a longer one is cut."),
               _l("Body size kept must be a whole number of bytes, 0 or more."),
               _default("LLM_ROUTER_REQUEST_HISTORY_MAX_BODY_BYTES"),
               _from_environment("LLM_ROUTER_REQUEST_HISTORY_MAX_BODY_BYTES")),
    Definition("alert_error_rate", "ALERT_ERROR_RATE", "LLM_ROUTER_ALERT_ERROR_RATE", "alerts", "number",
               _l("Error rate threshold"),
               _l("The share of requests answered with a server error over 5 minutes above which an alert is "
                  "raised (0.2 is 20%)."),
               _l("The error rate threshold must be a number from 0 to 1, such as 0.2 for 20%."),
               _default("LLM_ROUTER_ALERT_ERROR_RATE"), _from_environment("LLM_ROUTER_ALERT_ERROR_RATE")),
    Definition("alert_webhook_url", "ALERT_WEBHOOK_URL", "LLM_ROUTER_ALERT_WEBHOOK_URL", "alerts", "secret",
               _l("Alert webhook URL"),
               _l("Each alert is also posted here as Slack-compatible JSON. Kept secret: such URLs carry a token."),
               _l("The alert webhook URL must be an http:// or https:// URL."),
               None, _secret(environment_entry("LLM_ROUTER_ALERT_WEBHOOK_URL")[2])),  # type: ignore[index]
    Definition("ui_poll_seconds", "UI_POLL_SECONDS", "LLM_ROUTER_UI_POLL_SECONDS", "dashboard", "integer",
               _l("Refresh interval (seconds)"),
               _l("How often dashboard pages refresh their data."),
               _l("The refresh interval must be a whole number of seconds, 1 or more."),
               _default("LLM_ROUTER_UI_POLL_SECONDS"), _from_environment("LLM_ROUTER_UI_POLL_SECONDS")),
    Definition("default_language", "DEFAULT_LANGUAGE", "LLM_ROUTER_DEFAULT_LANGUAGE", "dashboard", "language",
               _l("Default language"),
               _l("The dashboard's language for people who have not chosen one with the language switch."),
               _l("The default language must be en, ja, or empty to follow the browser."),
               _default("LLM_ROUTER_DEFAULT_LANGUAGE", ""), _from_environment("LLM_ROUTER_DEFAULT_LANGUAGE")),
    Definition("cost_time_zone", "COST_TIME_ZONE", "LLM_ROUTER_COST_TIME_ZONE", "costs", "time_zone",
               _l("Time zone of cost periods"),
               _l("Days, weeks and months of the Costs page start at midnight in this time zone, such as UTC or "
                  "Asia/Tokyo."),
               _l("The time zone must be a name from the time zone database, such as UTC or Asia/Tokyo."),
               _default("LLM_ROUTER_COST_TIME_ZONE"), _from_environment("LLM_ROUTER_COST_TIME_ZONE")),
    Definition("price_overrides", "PRICE_OVERRIDES", None, "costs", "json",
               _l("Price overrides"),
               _l("A JSON list of prices that replace or add to the shipped price table, each with provider, model, "
                  "input, cached_input, cache_write, output (USD per 1M tokens), as_of and source."),
               _l("The price overrides are not valid."),
               [], _price_overrides),
)
BY_NAME: dict[str, Definition] = {definition.name: definition for definition in DEFINITIONS}


def masked(secret: str) -> str:
    """What may be shown of a stored secret: its last 4 characters for one of 16 or more, else nothing."""
    return "••••" + (secret[-4:] if len(secret) >= 16 else "")
