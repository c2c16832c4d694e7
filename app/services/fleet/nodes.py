"""Nodes: registration, the records the API and pages show, removal (docs/protocol.md).

The router never downloads: it tells each node what to hold (`manifest`), polls what the nodes
report (`polling`), and derives each model's lifecycle from those reports (`registry.lifecycle`).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select

from ...database import Node, NodeModel, NodeSample, iso_utc, utcnow
from ...errors import ApiError
from ...extensions import db
from ..catalog.platforms import ENGINES, PLATFORMS
from ..inference.node_client import Network, denied_addresses, deny_networks, parse_node_url
from .status import MAX_BYTES, MAX_CPUS, MAX_GPUS, is_count, shape_metrics

log = logging.getLogger(__name__)


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ApiError(400, "invalid_node", message, field)


def node_deny_networks() -> tuple[Network, ...]:
    """LLM_ROUTER_NODE_DENY_NETWORKS, parsed (a few networks: cheap at each registration, poll and refresh)."""
    return deny_networks(current_app.config.get("NODE_DENY_NETWORKS") or "")


def _check_url(url: Any) -> str:
    """The node's base URL without a trailing slash; a 400 for anything the router must not call."""
    message = _("'url' must be the node's http(s) address, such as http://10.0.0.5:8090: a host name or an IP "
                "address, a port from 1 to 65535, no user name, query or fragment.")
    try:
        parts = parse_node_url(url) if isinstance(url, str) and len(url) <= 255 else None
    except ValueError:
        parts = None
    _require(parts is not None, "url", message)
    assert parts is not None and isinstance(url, str)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # An IP literal is checked without any lookup; a name is resolved now (and its address checked again at
    # every connection, for a name that resolves elsewhere later). A name that does not resolve yet is let be.
    denied = denied_addresses(host, port, node_deny_networks())
    _require(not denied, "url", _("The node's address %(address)s is in a network the router does not call "
                                  "(LLM_ROUTER_NODE_DENY_NETWORKS).", address=", ".join(denied or [])))
    return url.rstrip("/")


def parse_registration(body: Any) -> dict[str, Any]:
    _require(isinstance(body, dict), "body", _("The request body must be a JSON object."))
    name, platform = body.get("name"), body.get("platform")
    _require(isinstance(name, str) and 0 < len(name) <= 100 and name.isprintable(), "name",
             _("'name' must be 1 to 100 printable characters."))
    url = _check_url(body.get("url"))
    _require(platform in PLATFORMS, "platform", _("'platform' must be one of: %(values)s.", values=", ".join(PLATFORMS)))
    engines = body.get("engines")
    _require(isinstance(engines, list) and all(engine in ENGINES for engine in engines), "engines",
             _("'engines' must be a list of: %(values)s.", values=", ".join(ENGINES)))
    _require(is_count(body.get("cpu_count", 0), MAX_CPUS), "cpu_count",
             _("'cpu_count' must be a whole number from 0 to %(max)s.", max=MAX_CPUS))
    _require(is_count(body.get("memory_bytes", 0)), "memory_bytes",
             _("'memory_bytes' must be a whole number from 0 to %(max)s.", max=MAX_BYTES))
    gpus = body.get("gpus", [])
    _require(isinstance(gpus, list) and len(gpus) <= MAX_GPUS
             and all(isinstance(gpu, dict) and isinstance(gpu.get("name"), str)
                     and is_count(gpu.get("memory_bytes")) for gpu in gpus), "gpus",
             _("'gpus' must be a list of at most %(count)s {name, memory_bytes}, with memory_bytes from 0 to "
               "%(max)s.", count=MAX_GPUS, max=MAX_BYTES))
    version = body.get("version", "")
    _require(isinstance(version, str) and len(version) <= 32, "version", _("'version' must be a short string."))
    return {"name": name, "url": url, "platform": platform, "engines": sorted(set(engines)),
            "cpu_count": body.get("cpu_count", 0), "memory_bytes": body.get("memory_bytes", 0),
            "gpus": [{"name": gpu["name"][:100], "memory_bytes": gpu["memory_bytes"]} for gpu in gpus],
            "version": version}


def register_node(body: Any, presented_token: str | None = None, admin: bool = False) -> tuple[Node, bool]:
    """Create the node, or update it in place when the name is known (its id stays).

    A known name is that node's only when the caller proves it: the node's current token (`presented_token`,
    which then stays the node's token, so that a registration retried after a lost answer still works), or
    an admin key (which replaces the token). Otherwise any node key could take over another node's name.
    """
    fields = parse_registration(body)
    node = db.session.scalar(select(Node).where(Node.name == fields["name"]))
    created = node is None
    proven = not created and token_matches(node, presented_token)
    if not created and not proven and not admin:
        raise ApiError(409, "node_name_taken", _(
            "A node named %(name)s is already registered. To register it again, send its current token in "
            "X-Node-Token, or remove that node first.", name=fields["name"]), "name")
    if created:
        node = Node(id=secrets.token_hex(16), **fields)
        db.session.add(node)
    else:
        for key, value in fields.items():
            setattr(node, key, value)
    if not proven:
        node.token = secrets.token_urlsafe(32)
    node.online, node.failed_polls, node.last_error, node.last_seen_at = True, 0, None, utcnow()
    db.session.commit()
    log.info("node %s (%s) %s at %s", node.name, node.id, "registered" if created else "registered again", node.url)
    return node, created


def token_matches(node: Node, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(node.token.encode(), presented.encode())  # type: ignore[union-attr]


def all_nodes() -> list[Node]:
    return list(db.session.scalars(select(Node).order_by(Node.name)))


def get_node(node_id: str) -> Node:
    node = db.session.get(Node, node_id)
    if node is None:
        raise ApiError(404, "node_not_found", _("There is no node with id %(id)s; register again.", id=node_id), "id")
    return node


def node_record(node: Node) -> dict[str, Any]:
    """What the API shows of a node: never its token."""
    return {"id": node.id, "name": node.name, "url": node.url, "platform": node.platform, "engines": node.engines,
            "cpu_count": node.cpu_count, "memory_bytes": node.memory_bytes, "gpus": node.gpus,
            "version": node.version, "online": node.online, "failed_polls": node.failed_polls,
            "last_error": node.last_error, "metrics": shape_metrics(node.metrics),
            "active_requests": node.active_requests,
            "loaded_models": node.loaded_models or [],
            "registered_at": iso_utc(node.registered_at), "last_seen_at": iso_utc(node.last_seen_at)}


def delete_node(node: Node) -> None:
    """The node with everything it reported: its model reports and samples (also removed by the database's
    ON DELETE CASCADE now that foreign keys are on; explicit here so that no row is left either way)."""
    db.session.execute(delete(NodeModel).where(NodeModel.node_id == node.id))
    db.session.execute(delete(NodeSample).where(NodeSample.node_id == node.id))
    db.session.delete(node)
    db.session.commit()
    log.info("node %s (%s) removed", node.name, node.id)
