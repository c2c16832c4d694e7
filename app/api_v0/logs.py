"""`POST /v0/logs/query`: the router's or a node's log lines, filtered on the server, newest first."""

from __future__ import annotations

from flask import jsonify

from ..access import Access, access
from ..services.observability import logs
from . import bp
from .common import json_object


@bp.post("/logs/query")
@access(Access.VIEW)
def query_logs():
    return jsonify(logs.query(json_object()))
