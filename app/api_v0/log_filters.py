"""Saved log filters: `GET/POST /v0/log-filters`, `DELETE /v0/log-filters/<id>` (viewers and up; see the
service for callers without a user)."""

from __future__ import annotations

from flask import jsonify

from ..access import Access, access, current_principal
from ..services.observability import log_filters
from . import bp
from .common import json_object


@bp.get("/log-filters")
@access(Access.VIEW)
def list_log_filters():
    return jsonify({"filters": log_filters.list_filters(current_principal())})


@bp.post("/log-filters")
@access(Access.VIEW)
def create_log_filter():
    return jsonify(log_filters.create_filter(current_principal(), json_object())), 201


@bp.delete("/log-filters/<int:filter_id>")
@access(Access.VIEW)
def delete_log_filter(filter_id: int):
    log_filters.delete_filter(current_principal(), filter_id)
    return "", 204
