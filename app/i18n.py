"""Language choice: the `lang` cookie set by the switcher, else the browser's Accept-Language."""

from __future__ import annotations

from flask import request

LANGUAGES = {"en": "English", "ja": "日本語"}
LANGUAGE_COOKIE = "lang"


def select_locale() -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"
