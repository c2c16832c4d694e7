"""The request history: `GET /v0/requests` (filters, newest first, cursor pages) and one request's record."""

from __future__ import annotations

from flask import jsonify, request

from ..access import Access, access
from ..services.observability import history_queries
from . import bp


@bp.get("/requests")
@access(Access.VIEW)
def list_requests():
    page = history_queries.page(request.args)
    return jsonify({"requests": page.records, "next_cursor": page.next_cursor})


@bp.get("/requests/<request_id>")
@access(Access.VIEW)
def get_request(request_id: str):
    return jsonify(history_queries.detail(request_id))
