"""Helpers shared by the /v0 views."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from .. import json_input
from ..errors import ApiError


def json_body() -> Any:
    """The parsed JSON body, or a 400 a person can act on (not Flask's HTML page)."""
    if not request.is_json:
        raise ApiError(400, "invalid_body", _("Send a JSON body with Content-Type: application/json."))
    try:
        return json_input.loads(request.get_data(cache=True))
    except json_input.UnusableJson as exc:
        if exc.reason == "too_deep":
            raise ApiError(400, "invalid_json", _("The request body nests JSON too deeply.")) from None
        if exc.reason == "not_text":
            raise ApiError(400, "invalid_json", _("The request body holds a string that is not text (a lone "
                                                  "surrogate such as \\ud800).")) from None
        raise ApiError(400, "invalid_json", _("The request body is not valid JSON.")) from None


def json_object() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", _("The request body must be a JSON object."))
    return body
