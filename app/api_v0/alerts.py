"""Alerts: `GET /v0/alerts`, newest first (`active=1`, `after=<id>`, `limit`); the pages' toast poller and
the overview read it. Raised and resolved by the scheduler (app/services/observability/alerts.py)."""

from __future__ import annotations

from flask import jsonify, request

from ..access import Access, access
from ..services.observability import alerts
from . import bp


@bp.get("/alerts")
@access(Access.VIEW)
def list_alerts():
    return jsonify({"alerts": alerts.listing(request.args)})
