"""Presentation helpers for the dashboard templates, registered as Jinja filters.

Sizes use binary units throughout (KiB, MiB, GiB, TiB: powers of 1024), numbers follow the page's
locale (Flask-Babel), so "4,683,073,248" bytes reads "4.4 GiB" in English and Japanese alike.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask
from flask_babel import format_decimal, format_percent, gettext

from ..database import as_utc

_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")

# How a model format is spelled for people; unknown formats are shown as stored.
_FORMAT_NAMES = {"gguf": "GGUF", "ctranslate2": "CTranslate2", "safetensors": "Safetensors"}


def filesize(value: int | float | None) -> str:
    """Human size in binary units with one decimal ("468.6 MiB", "1.0 GiB"); bytes below 1 KiB as "512 B"."""
    if value is None:
        return "—"
    size = float(value)
    if abs(size) < 1024:
        return f"{format_decimal(int(size))} B"
    for unit in _BINARY_UNITS:
        size /= 1024
        if abs(size) < 1024 or unit == _BINARY_UNITS[-1]:
            return f"{format_decimal(size, format='#,##0.0')} {unit}"
    raise AssertionError("unreachable")


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


def moment(value: datetime | None) -> str:
    """A stored time as "2025-03-04 05:06 UTC": the same unambiguous form in every language."""
    if value is None:
        return "—"
    return as_utc(value).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def iso_moment(value: datetime | None) -> str:
    """For <time datetime="...">."""
    return as_utc(value).isoformat(timespec="seconds") if value is not None else ""


FILTERS = {"filesize": filesize, "number": number, "percent": percent, "model_format": model_format,
           "catalog_text": catalog_text, "moment": moment, "iso_moment": iso_moment}


def register_filters(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
