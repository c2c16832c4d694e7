"""Language choice: the `lang` cookie set by the switcher, else the default language of the settings page
(`DEFAULT_LANGUAGE`, when one is chosen), else the browser's Accept-Language."""

from __future__ import annotations

from flask import current_app, has_request_context, request

LANGUAGES = {"en": "English", "ja": "日本語"}
LANGUAGE_COOKIE = "lang"


def select_locale() -> str:
    if not has_request_context():  # command-line tools and background jobs speak English
        return "en"
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    default = current_app.config.get("DEFAULT_LANGUAGE")
    if default in LANGUAGES:
        return default
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def extract_catalog(fileobj, keywords, comment_tags, options):
    """pybabel extractor for `supported_models.json`: names and descriptions are user-visible text."""
    import json

    for index, entry in enumerate(json.load(fileobj)):
        for field in ("name", "description"):
            if isinstance(entry, dict) and isinstance(entry.get(field), str):
                yield index + 1, "gettext", entry[field], [f"supported model {entry.get('id')}: {field}"]
