"""One error shape for the whole API.

Both `/v0` and `/v1` answer errors with the OpenAI envelope
`{"error": {"message", "type", "param", "code"}}`, so a client parses one format everywhere
(the system this replaces had three). Services raise `ApiError`; the handlers here turn it, and
every HTTP error under an API prefix, into that envelope.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from jinja2 import TemplateNotFound
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

API_PREFIXES = ("/v0/", "/v1/")

_TYPE_BY_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class ApiError(Exception):
    """A failure to report to the API client: status, machine code, and a sentence for a person."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers or {}


def error_type(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "invalid_request_error" if status < 500 else "server_error"


def error_response(status: int, code: str, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def is_api_request() -> bool:
    """API clients get the JSON envelope; people get pages."""
    return request.path.startswith(API_PREFIXES)


def _http_error_message(exc: HTTPException) -> tuple[str, str]:
    if exc.code == 404:
        return "not_found", _("No such endpoint: %(method)s %(path)s.", method=request.method, path=request.path)
    if exc.code == 405:
        return "method_not_allowed", _("%(method)s is not allowed on %(path)s.", method=request.method,
                                       path=request.path)
    if exc.code == 413:
        limit = request.max_content_length
        if limit:
            return "request_too_large", _("The request body is too large: this endpoint takes at most %(limit)s "
                                          "bytes.", limit=f"{limit:,}")
        return "request_too_large", _("The request body is too large.")
    return (exc.name or "error").lower().replace(" ", "_"), str(exc.description or exc.name)


def _has_error_page(app: Flask) -> bool:
    """Pages show errors as a page (errors/error.html); the API always answers JSON."""
    try:
        app.jinja_env.get_template("errors/error.html")
    except TemplateNotFound:
        return False
    return True


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        if not is_api_request() and _has_error_page(app):
            return render_template("errors/error.html", status=exc.status, message=exc.message), exc.status, \
                exc.headers
        return error_response(exc.status, exc.code, exc.message, exc.param, exc.headers)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        if not is_api_request():
            return exc
        code, message = _http_error_message(exc)
        return error_response(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = _("Internal error; the router log has the details.")
        if is_api_request():
            return error_response(500, "internal_error", message)
        return message, 500
