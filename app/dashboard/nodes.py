"""The Nodes page: every registered node agent with its state, hardware, latest metrics and models.

Read from what the router already stores (registrations and the latest poll); the page's script
refreshes the table every poll interval and says when a node goes offline or comes back. Admins
may remove a node: a dead machine leaves the list, and a live agent simply registers again.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..services.fleet import history as node_history
from ..services.fleet import nodes, polling, reports
from . import bp
from ..pages import fragment


def _context() -> dict:
    return {"nodes": nodes.all_nodes(), "model_counts": reports.model_counts()}


@bp.get("/nodes")
@access(Access.VIEW)
def nodes_page():
    return render_template("dashboard/nodes.html", active_nav="nodes", offline_after=polling.OFFLINE_AFTER_FAILED_POLLS,
                           node_poll_seconds=current_app.config["NODE_POLL_SECONDS"], **_context())


@bp.get("/nodes/_list")
@access(Access.VIEW)
def nodes_fragment():
    return fragment("dashboard/_node_list.html", **_context())


def _find_node(node_id: str):
    """The node, or a 404 worded for a person (the API's words are for node agents: "register again")."""
    try:
        return nodes.get_node(node_id)
    except ApiError:
        raise ApiError(404, "node_not_found", _("There is no node with id %(id)s: it was removed, or the link is "
                                                "wrong.", id=node_id)) from None


def _node_context(node_id: str) -> dict:
    node = _find_node(node_id)
    return {"node": node, "reports": reports.reports(node_id=node.id)}


@bp.get("/nodes/<node_id>")
@access(Access.VIEW)
def node_page(node_id: str):
    return render_template("dashboard/node.html", active_nav="nodes", windows=node_history.WINDOWS,
                           default_window=node_history.DEFAULT_WINDOW, **_node_context(node_id))


@bp.get("/nodes/<node_id>/_summary")
@access(Access.VIEW)
def node_fragment(node_id: str):
    return fragment("dashboard/_node_summary.html", **_node_context(node_id))


@bp.post("/nodes/<node_id>/remove")
@access(Access.ADMIN)
def remove_node(node_id: str):
    try:
        node = _find_node(node_id)
    except ApiError as exc:  # removed meanwhile (another tab, another admin): say so, change nothing
        flash(exc.message, "error")
        return redirect(url_for("dashboard.nodes_page"))
    name = node.name
    nodes.delete_node(node)
    flash(_("Removed the node %(name)s. If its agent is still running, it registers again at its next sync.",
            name=name), "success")
    return redirect(url_for("dashboard.nodes_page"))
