"""Log queries (`POST /v0/logs/query`): the router's own files, or a node's, asked through its `GET /v0/logs`.

The query language, the files and the engine are `structured_logs`' (shared with the node agent); this
module adds the router's part: a `source`, translated errors (`QueryError.reason` → a sentence in the
caller's language, `param` as the library names it), and the call to a node. For a node the router
validates the query itself first, so that a mistake is answered in the caller's language without a
round trip, then passes the node's page on, reshaped to the documented keys and bounded.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import requests
from flask import current_app
from flask_babel import gettext as _

from structured_logs import Query, QueryError, parse_query, run_query

from ...database import Node
from ...errors import ApiError
from ...extensions import db
from ...log_format import log_file
from ..fleet import node_http
from ..fleet.nodes import node_deny_networks

log = logging.getLogger(__name__)

ROUTER_SOURCE = "router"
NODE_TIMEOUT = (3.0, 15.0)  # connect; read (a node scans for at most 5 s)
MAX_NODE_ANSWER_BYTES = 32 * 1024 * 1024
_TEXT_KEYS = ("at", "level", "logger", "message")


def _message(error: QueryError) -> str:
    """The library's reason in the caller's language."""
    details = error.details
    messages = {
        "not_object": lambda: _("The request body must be a JSON object."),
        "unknown": lambda: _("Unknown field '%(name)s'.", name=details.get("name")),
        "level": lambda: _("'level' must be one of debug, info, warning, error."),
        "time": lambda: _("'%(param)s' must be a time in ISO 8601, such as 2026-12-03T09:30:00Z.",
                          param=details.get("name")),
        "match": lambda: _("'match' must be all or any."),
        "conditions": lambda: _("'conditions' must be a list of at most %(limit)d conditions.",
                                limit=details.get("limit")),
        "condition": lambda: _("Each condition must be an object with field, op and value."),
        "field": lambda: _("'field' must be message, logger or any."),
        "op": lambda: _("'op' must be contains, not_contains, regex or not_regex."),
        "value": lambda: _("'value' must be text of 1 to %(limit)d characters.", limit=details.get("limit")),
        "regex": lambda: _("The regular expression is not valid at character %(position)d: %(problem)s.",
                           position=details.get("position"), problem=details.get("problem")),
        "limit": lambda: _("'limit' must be a whole number from 1 to %(limit)d.", limit=details.get("limit")),
        "cursor": lambda: _("'cursor' is not a cursor this log gave out."),
    }
    make = messages.get(error.reason)
    return make() if make else error.message


def validate(body: Any, param_prefix: str = "", allowed_extra: tuple[str, ...] = ("source",)) -> Query:
    """A checked query, or a 400 naming the part (`conditions[1].value`, after `param_prefix`)."""
    try:
        return parse_query(body, allowed_extra)
    except QueryError as exc:
        param = f"{param_prefix}{exc.param}" if exc.param else (param_prefix.rstrip(".") or None)
        raise ApiError(400, "invalid_query", _message(exc), param) from None


def source_of(body: Any) -> str:
    source = body.get("source", ROUTER_SOURCE) if isinstance(body, dict) else ROUTER_SOURCE
    if not isinstance(source, str) or not 0 < len(source) <= 64:
        raise ApiError(400, "invalid_query", _("'source' must be router or a node's id."), "source")
    return source


def router_log_path() -> Path:
    return log_file(Path(current_app.instance_path) / "logs")


def query(body: Any) -> dict[str, Any]:
    """`{"lines": [...], "next_cursor"}` for a `POST /v0/logs/query` body."""
    parsed = validate(body)
    source = source_of(body)
    if source == ROUTER_SOURCE:
        return run_query(router_log_path(), parsed).as_dict()
    node = db.session.get(Node, source)
    if node is None:
        raise ApiError(404, "node_not_found", _("There is no node with id %(id)s.", id=source), "source")
    if not node.online:
        raise ApiError(503, "node_offline", _("Node %(name)s is offline: its logs can be read once it answers "
                                              "again.", name=node.name))
    return _ask_node(node, parsed, body.get("cursor"))


def node_parameters(parsed: Query, cursor: Any) -> dict[str, str]:
    """The query as the node's `GET /v0/logs` takes it (docs/protocol.md)."""
    normalized = parsed.normalized
    parameters = {"level": normalized["level"], "match": normalized["match"], "limit": str(normalized["limit"]),
                  "conditions": json.dumps(normalized["conditions"], ensure_ascii=False)}
    for name in ("since", "until"):
        if normalized[name]:
            parameters[name] = normalized[name]
    if isinstance(cursor, str) and cursor:
        parameters["cursor"] = cursor
    return parameters


def _ask_node(node: Node, parsed: Query, cursor: Any) -> dict[str, Any]:
    session = node_http.session_for(node_deny_networks())
    started = time.monotonic()
    try:
        with session.get(f"{node.url}/v0/logs", params=node_parameters(parsed, cursor), timeout=NODE_TIMEOUT,
                         headers={"Authorization": f"Bearer {node.token}"}, allow_redirects=False,
                         stream=True) as response:
            body = _read_capped(response)
            status = response.status_code
    except requests.RequestException as exc:
        log.warning("log query to node %s (%s) at %s failed after %.1f s: %s", node.name, node.id, node.url,
                    time.monotonic() - started, type(exc).__name__)
        raise ApiError(503, "node_unreachable", _("Node %(name)s did not answer, so its logs cannot be read now; "
                                                  "try again when it is back.", name=node.name)) from None
    answer = _json(body)
    if status == 400 and isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        error = answer["error"]  # a cursor from another source, say: the node's own words (English)
        raise ApiError(400, "invalid_query", str(error.get("message") or "")[:500],
                       error.get("param") if isinstance(error.get("param"), str) else None)
    page = _page(answer) if status == 200 else None
    if page is None:
        detail = f"HTTP {status}" if status != 200 else "not a page of log lines"
        log.warning("node %s (%s) answered a log query with %s", node.name, node.id, detail)
        raise ApiError(502, "node_bad_answer", _("Node %(name)s answered the log query with something unusable "
                                                 "(%(detail)s): check that its node agent is up to date.", name=node.name,
                                                 detail=detail))
    return page


def _read_capped(response: requests.Response) -> bytes | None:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_NODE_ANSWER_BYTES:
        return None
    body = bytearray()
    for chunk in response.iter_content(256 * 1024):
        body += chunk
        if len(body) > MAX_NODE_ANSWER_BYTES:
            return None
    return bytes(body)


def _json(body: bytes | None) -> Any:
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _page(answer: Any) -> dict[str, Any] | None:
    """The node's page with only the documented keys, or None when it is not one."""
    if not isinstance(answer, dict) or not isinstance(answer.get("lines"), list):
        return None
    cursor = answer.get("next_cursor")
    if cursor is not None and not (isinstance(cursor, str) and len(cursor) <= 256):
        return None
    lines = []
    for line in answer["lines"]:
        if not isinstance(line, dict) or not all(isinstance(line.get(key), str) for key in _TEXT_KEYS):
            return None
        request_id = line.get("request_id")
        lines.append({"at": line["at"], "level": line["level"], "logger": line["logger"],
                      "message": line["message"], "request_id": request_id if isinstance(request_id, str) else None})
    return {"lines": lines, "next_cursor": cursor}
