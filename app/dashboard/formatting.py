"""Presentation helpers for the dashboard templates, registered as Jinja filters.

Sizes come from `app.units`; numbers follow the page's locale (Flask-Babel).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from flask import Flask
from flask_babel import format_currency, format_decimal, format_percent, gettext

from ..database import as_utc, iso_utc
from ..units import format_bytes
from ..services.accounts.users import role_label
from ..services.registry.lifecycle import offered_actions

# How a model format is spelled for people; unknown formats are shown as stored.
_FORMAT_NAMES = {"gguf": "GGUF", "ctranslate2": "CTranslate2", "safetensors": "Safetensors"}


def filesize(value: int | float | None) -> str:
    """A size ("468.6 MiB"; see `app.units`), or a dash for none."""
    return "—" if value is None else format_bytes(value)


def number(value: int | float | None) -> str:
    """A count in the page's locale ("98,765")."""
    if value is None:
        return "—"
    return format_decimal(value)


def percent(value: int | float | None) -> str:
    """A percentage given as 0–100 ("26.3%"), one decimal, in the page's locale."""
    if value is None:
        return "—"
    return format_percent(float(value) / 100, format="#,##0.0%")


def usd(value: Any) -> str:
    """An amount in US dollars in the page's locale, with the decimals a per-token price needs ("$0.075"),
    or a dash for none (an unknown price is never shown as $0)."""
    if value is None:
        return "—"
    return format_currency(value, "USD", format="¤#,##0.00####", currency_digits=False)


def model_format(value: str | None) -> str:
    """A model format's usual spelling ("gguf" -> "GGUF")."""
    if not value:
        return "—"
    return _FORMAT_NAMES.get(value.lower(), value)


def catalog_text(value: str | None) -> str:
    """Catalog text in the page's language when the catalog has a translation, else as given.

    For text that may also be a user's own words (a registered model's name): unlike `_()` in a
    template, it never treats the text as a format string or as markup.
    """
    if not value:
        return value or ""
    return gettext(value)


def model_name(model: Mapping[str, Any]) -> str:
    """A model's name as people read it: a catalog entry's in the page's language, a name someone typed
    (a URL registration's) as typed."""
    return catalog_text(model["name"]) if model.get("source") == "supported" else model["name"]


def moment(value: datetime | None) -> str:
    """A stored time as "2025-03-04 05:06 UTC": the same unambiguous form in every language."""
    if value is None:
        return "—"
    return as_utc(value).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def iso_moment(value: datetime | None) -> str:
    """For <time datetime="...">: the API's form of a time (`iso_utc`)."""
    return iso_utc(value) or ""


FILTERS = {"filesize": filesize, "number": number, "percent": percent, "model_format": model_format, "usd": usd,
           "catalog_text": catalog_text, "moment": moment, "iso_moment": iso_moment,
           "role_label": role_label, "model_name": model_name, "offered_actions": offered_actions}


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
