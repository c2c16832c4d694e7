"""Helpers shared by the /v0 views."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from ..errors import ApiError


def json_body() -> Any:
    """The parsed JSON body, or a 400 a person can act on (not Flask's HTML page)."""
    if not request.is_json:
        raise ApiError(400, "invalid_body", _("Send a JSON body with Content-Type: application/json."))
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", _("The request body is not valid JSON."))
    return body


def json_object() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", _("The request body must be a JSON object."))
    return body
