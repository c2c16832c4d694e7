"""The Logs page: what the router and each node logged, filtered on the server.

The page is a shell: its script reads the query from the URL (so a filter can be shared as a link),
sends it to `POST /v0/logs/query`, and keeps saved filters through `/v0/log-filters`. The server
side only names the sources (the router and every registered node, one tab each) and the URLs the
script calls, so the page renders at once even when a node is slow or offline.
"""

from __future__ import annotations

from flask import render_template, request, url_for
from werkzeug.routing import BuildError

from ..access import Access, access
from ..database import Node
from ..services.fleet import nodes
from . import bp

ROUTER_SOURCE = "router"
LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = "info"
# Time range presets (value, seconds); "custom" uses the since/until fields.
RANGES = (("15m", 15 * 60), ("1h", 3600), ("6h", 6 * 3600), ("24h", 24 * 3600), ("7d", 7 * 24 * 3600))
DEFAULT_RANGE = "1h"
PAGE_SIZE = 200


def request_link_template() -> str:
    """A request's page with "__ID__" for the script to fill in: the History page's route when it is
    registered, else its agreed path (the two pages are built side by side)."""
    try:
        return url_for("dashboard.request_page", request_id="__ID__")
    except BuildError:
        return url_for("dashboard.logs_page").rsplit("/", 1)[0] + "/requests/__ID__"


def api_base() -> str:
    """/v0 as this router serves it (a path prefix behind a proxy included), from a route that exists."""
    return url_for("api_v0.list_nodes").rsplit("/", 1)[0]


def _sources(selected: str) -> tuple[list[Node], str | None]:
    """Every registered node, and the node id in `selected` when no node has it (a removed node's link)."""
    all_nodes = nodes.all_nodes()
    if selected == ROUTER_SOURCE or any(node.id == selected for node in all_nodes):
        return all_nodes, None
    return all_nodes, selected


@bp.get("/logs")
@access(Access.VIEW)
def logs_page():
    source = request.args.get("source", ROUTER_SOURCE) or ROUTER_SOURCE
    all_nodes, missing = _sources(source)
    context = {
        "nodes": all_nodes,
        "source": ROUTER_SOURCE if missing else source,
        "missing_source": missing,
        "levels": LEVELS,
        "default_level": DEFAULT_LEVEL,
        "ranges": RANGES,
        "default_range": DEFAULT_RANGE,
        "page_size": PAGE_SIZE,
        "api_base": api_base(),
        "request_link": request_link_template(),
        "active_nav": "logs",
    }
    status = 404 if missing else 200
    return render_template("dashboard/logs.html", **context), status

