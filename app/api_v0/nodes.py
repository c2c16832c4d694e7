"""Nodes: registration and manifests for node agents; the node list for people."""

from __future__ import annotations

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _

from ..access import Access, access, current_principal
from ..errors import ApiError
from ..services.fleet import history as node_history
from ..services.fleet import manifest, nodes
from . import bp
from .common import json_body


@bp.post("/nodes")
@access(Access.NODE)
def register_node():
    """A name already registered is re-registered only by that node (its current token in X-Node-Token) or an
    admin key: a node key is often shared by every node, and must not let one node take over another."""
    node, created = nodes.register_node(json_body(), request.headers.get("X-Node-Token"),
                                        admin=current_principal().is_admin)
    return jsonify({"id": node.id, "token": node.token, "poll_interval_seconds": current_app.config["NODE_POLL_SECONDS"],
                    "manifest_url": url_for("api_v0.node_manifest", node_id=node.id)}), 201 if created else 200


@bp.get("/nodes")
@access(Access.VIEW)
def list_nodes():
    return jsonify({"nodes": [nodes.node_record(node) for node in nodes.all_nodes()]})


@bp.get("/nodes/<node_id>")
@access(Access.VIEW)
def get_node(node_id: str):
    return jsonify(nodes.node_record(nodes.get_node(node_id)))


@bp.get("/nodes/<node_id>/history")
@access(Access.VIEW)
def get_node_history(node_id: str):
    """Figures of the last `window` (1h, 6h, 24h, 7d), in evenly spaced points, for graphs."""
    window = node_history.parse_window(request.args.get("window"))
    return jsonify(node_history.node_history(nodes.get_node(node_id), window))


@bp.delete("/nodes/<node_id>")
@access(Access.ADMIN)
def delete_node(node_id: str):
    nodes.delete_node(nodes.get_node(node_id))
    return "", 204


@bp.get("/nodes/<node_id>/manifest")
@access(Access.NODE)
def node_manifest(node_id: str):
    """A node-scope key may be shared by every node: the node proves which one it is with the token it got
    at registration (`X-Node-Token`). Admin keys may read any manifest."""
    node = nodes.get_node(node_id)
    if "admin" not in current_principal().scopes and not nodes.token_matches(node, request.headers.get("X-Node-Token")):
        raise ApiError(401, "invalid_node_token", _("This manifest belongs to another node: send the X-Node-Token "
                                                    "this node got at registration, or register again."))
    return jsonify(manifest.manifest_for(node))
