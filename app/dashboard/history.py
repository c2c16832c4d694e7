"""The History page (`/requests`) and one request's page (`/requests/<id>`).

Both read `services/observability/history_queries.py`, the same service as `GET /v0/requests`, so the
page and the API filter alike. The filter form is a plain GET form: the URL holds the filters (shareable,
works without JavaScript). A filter the service refuses (a bad date, a bad status) re-renders the form
with the service's message on that field and a 400, never a 500. The page's script only polls the API
for newer rows (first page only) and keeps the error view chosen on the detail page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from flask import current_app, make_response, render_template, request
from flask_babel import format_decimal, gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..pages import no_store
from ..services.fleet import nodes
from ..services.observability import history_queries
from ..services.registry import models as registry
from . import bp

PAGE_SIZE = 50
# The form's fields, in the order of the form; `code` is the status field's exact code (503), which the
# API takes as `status` and wins over the class chosen in the select.
FILTER_FIELDS = ("q", "model", "node", "api_key", "endpoint", "status", "code", "since", "until", "request_id")
STATUS_CLASSES = ("2xx", "4xx", "5xx", "error")
ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


def _filters(args: Mapping[str, str]) -> dict[str, str]:
    """The filters the URL sets (blank ones dropped, spaces trimmed). A `status` that is no class (`503`,
    as the API spells it) belongs in the code field, so that a link written for the API opens here too."""
    filters = {name: args[name].strip() for name in FILTER_FIELDS if args.get(name, "").strip()}
    status = filters.get("status", "").lower()
    if status in STATUS_CLASSES:
        filters["status"] = status
    elif status:
        filters.pop("status")
        filters.setdefault("code", status)
    return filters


def _query_args(filters: Mapping[str, str]) -> dict[str, str]:
    """The filters as `GET /v0/requests` takes them."""
    args = {name: value for name, value in filters.items() if name != "code"}
    if filters.get("code"):
        args["status"] = filters["code"]
    return args


def _field_of(error: ApiError, filters: Mapping[str, str]) -> str | None:
    """The form field an error of the service is about (the code field when that is where the status came from)."""
    if error.param == "status" and filters.get("code"):
        return "code"
    return error.param if error.param in FILTER_FIELDS else None


def clock(iso: str | None) -> str:
    """An API time ("2026-12-03T09:30:05.123Z") as "2026-12-03 09:30:05 UTC": to the second, for requests."""
    if not iso:
        return "—"
    moment = datetime.fromisoformat(iso).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def milliseconds(value: float | None) -> str:
    """A duration in ms, rounded, in the page's locale ("1,234 ms"); a dash for none."""
    if value is None:
        return "—"
    return _("%(ms)s ms", ms=format_decimal(round(value)))


def pretty(value: Any) -> str:
    """A stored body for people: JSON indented (keys in their order, Japanese as written), text as it is."""
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)


def _suggestions() -> dict[str, list[str]]:
    """Values for the model and node fields' lists (the registered ones; any other may still be typed)."""
    return {"models": sorted(model.id for model in registry.registered_models()),
            "nodes": sorted(node.name for node in nodes.all_nodes())}


@bp.get("/requests")
@access(Access.VIEW)
def requests_page():
    filters = _filters(request.args)
    cursor = request.args.get("cursor", "").strip()
    query = {**_query_args(filters), "limit": str(PAGE_SIZE), **({"cursor": cursor} if cursor else {})}
    error: ApiError | None = None
    try:
        page = history_queries.page(query)
    except ApiError as exc:
        error, page = exc, history_queries.Page([], None)
    html = render_template(
        "dashboard/requests.html", active_nav="history", filters=filters, cursor=cursor, page=page,
        error=error, error_field=_field_of(error, filters) if error else None, status_classes=STATUS_CLASSES,
        endpoints=ENDPOINTS, poll_args={**_query_args(filters), "limit": str(history_queries.MAX_LIMIT)},
        retention_days=current_app.config["REQUEST_HISTORY_DAYS"], clock=clock, milliseconds=milliseconds,
        **_suggestions())
    return no_store(make_response(html, error.status if error else 200))


# Plain sentences for the error codes operators meet most; any other shows the router's own message.
def _plain_sentence(code: str | None) -> str | None:
    sentences = {
        "model_not_found": _("The model asked for does not exist on this router: it is not registered, or its "
                             "name is misspelled."),
        "no_available_nodes": _("No online node had the model ready, so the router could not send the request "
                                "anywhere."),
        "model_downloading": _("The model was still downloading to the nodes. It can be used once a node has it "
                               "ready."),
        "model_error": _("The model cannot be served: its download or check failed on every node."),
        "queue_full": _("Every node serving the model was busy and the queue of waiting requests was full, so "
                        "the router turned the request away."),
        "queue_timeout": _("Every node serving the model stayed busy while the request waited in the queue, "
                           "until the wait ran out."),
        "node_timeout": _("The node did not answer in time."),
        "node_unreachable": _("No node could be reached to answer the request."),
        "stream_interrupted": _("The answer stopped partway through: the node failed while it was streaming."),
        "request_timeout": _("The client stopped sending the request before it was complete."),
        "too_many_concurrent_requests": _("The API key had too many requests in progress at once."),
        "invalid_api_key": _("The request had no valid API key."),
        "permission_denied": _("The API key's scope does not allow this endpoint."),
        "request_too_large": _("The request was larger than the router accepts."),
    }
    invalid = _("The request was not valid (a missing or wrong parameter, or a body that is not JSON); the "
                "client has to correct it.")
    for name in ("invalid_request_error", "invalid_json", "invalid_body", "invalid_type", "invalid_value",
                 "missing_required_parameter", "unsupported_parameter", "unsupported_value"):
        sentences[name] = invalid
    return sentences.get(code or "")


def _error_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A failed request's error, for both of the page's views: None when the request succeeded.

    The envelope is the stored answer (`{"error": {...}}`) or, for a stream that failed partway, the
    stored summary's `error`."""
    body = record.get("response_body")
    envelope = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
    if record["status"] < 400 and envelope is None:
        return None
    code = record.get("error_code") or (envelope or {}).get("code")
    message = (envelope or {}).get("message")
    sentence = _plain_sentence(code) or message
    if not sentence:
        sentence = (_("The router refused the request as the client sent it.") if record["status"] < 500 else
                    _("The request failed on the router or on a node."))
    return {"code": code, "sentence": sentence, "envelope": {"error": envelope} if envelope else body,
            "message": message}


def _stream_answer(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A streamed answer's assembled text, finish reason and usage (as the history stores it)."""
    body = record.get("response_body")
    if not (record.get("stream") and isinstance(body, dict) and "text" in body):
        return None
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    tokens = {name: usage.get(name) if isinstance(usage.get(name), int) else None
              for name in ("prompt_tokens", "completion_tokens")}
    return {"text": str(body.get("text") or ""), "finish_reason": body.get("finish_reason"), **tokens}


@bp.get("/requests/<request_id>")
@access(Access.VIEW)
def request_page(request_id: str):
    record = history_queries.detail(request_id)  # 404 (the error page, with the service's sentence)
    html = render_template("dashboard/request.html", active_nav="history", record=record, error=_error_of(record),
                           stream_answer=_stream_answer(record), clock=clock, pretty=pretty, milliseconds=milliseconds,
                           max_body_bytes=current_app.config["REQUEST_HISTORY_MAX_BODY_BYTES"])
    return no_store(make_response(html))
