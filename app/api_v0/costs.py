"""`GET /v0/costs?period=day|week|month&since&until&group_by=provider|model|api_key`: cloud request costs
per day, ISO week or month in the configured time zone (viewers may read them)."""

from __future__ import annotations

from flask import current_app, jsonify, request

from ..access import Access, access
from ..services.observability import costs as cost_service
from . import bp


@bp.get("/costs")
@access(Access.VIEW)
def get_costs():
    args = request.args
    # Read at each request: the settings page may change the time zone while the router runs.
    return jsonify(cost_service.costs(args.get("period"), args.get("since"), args.get("until"), args.get("group_by"),
                                      current_app.config["COST_TIME_ZONE"]))
