"""What the request history records of the current `/v1` request (the blueprint calls these two).

`start` names the request (the `X-Request-Id` the client gets back); `finish` turns what the request
path left in `g` and the response into an `Entry` for the history's writer. A stream is recorded when
it ends, with what was relayed assembled into its text, finish reason and usage.
"""

from __future__ import annotations

import json
import logging
import secrets
import time

from flask import Response, current_app, g, request

from ...database import utcnow
from ..inference import relay
from .history import Entry, HistoryWriter

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_MAX_CLIENT_ID = 128


def start() -> None:
    g.request_id = secrets.token_hex(16)
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.client_request_id = given if 0 < len(given) <= _MAX_CLIENT_ID and given.isprintable() else None


def _error_code(response: Response) -> str | None:
    if response.status_code < 400 or response.is_streamed:
        return None
    try:
        error = json.loads(response.get_data()).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), str) else None


def finish(response: Response) -> Response:
    """Give the response its `X-Request-Id` and hand the request to the history (never raises)."""
    if "request_id" not in g:
        start()  # refused before the blueprint's own hooks ran (authentication)
    response.headers[REQUEST_ID_HEADER] = g.request_id
    if current_app.config["REQUEST_HISTORY_DAYS"] <= 0:  # the history is off: the id is all there is
        return response
    try:
        _record(response)
    except Exception:  # noqa: BLE001 - the history must never fail a request
        log.exception("recording request %s in the history failed", g.request_id)
    return response


def _record(response: Response) -> None:
    started = request.environ.get(relay.REQUEST_START) or time.perf_counter()
    principal = g.get("principal")
    key = principal.key if principal is not None else None
    user = principal.user if principal is not None else None
    entry = Entry(
        id=g.request_id, at=utcnow(), endpoint=request.path, status=response.status_code,
        client_request_id=g.get("client_request_id"), model=g.get("requested_model"), node=g.get("inference_node"),
        failed_nodes=list(g.get("failed_nodes") or []), api_key_id=key.id if key is not None else None,
        api_key_name=key.name if key is not None else None, user=user.username if user is not None else None,
        client_address=request.remote_addr, stream=bool(g.get("inference_stream")), error_code=_error_code(response),
        queue_ms=round(relay.queued_ms(), 3),
        request_raw=bytes(g.get("inference_body") or b""))
    writer: HistoryWriter = current_app.extensions["history"]
    stream = relay.stream_of(response)
    if stream is None:
        entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if not response.is_streamed:
            entry.answer_raw = response.get_data()
        writer.add(entry)
        return
    entry.ttft_ms = round((time.perf_counter() - started) * 1000, 3)

    def ended(relayed: bytes, cut: bool) -> None:
        entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        entry.relayed, entry.relayed_cut = relayed, cut
        writer.add(entry)

    stream.on_end = ended
