"""`GET /v0/overview?window=1h|24h|7d`: the fleet and its traffic, as the Overview page shows them."""

from __future__ import annotations

from flask import jsonify, request

from ..access import Access, access
from ..services.observability import overview as figures
from . import bp


@bp.get("/overview")
@access(Access.VIEW)
def get_overview():
    return jsonify(figures.overview(figures.parse_window(request.args.get("window"))))
