"""Database rows for service tests, made as the router makes them: nodes through `register_node` (then
set online or offline, as polls would), reports as the `NodeModel` rows a poll stores. Call inside an
app context."""

from __future__ import annotations

from typing import Any

from app.database import Node, NodeModel
from app.extensions import db
from app.services.fleet import nodes
from tests.support.status_node import node_body


def add_node(name: str, url: str = "http://127.0.0.1:9", online: bool = True, **fields: Any) -> Node:
    """A registered node (a CPU node with 16 GiB unless `fields` say otherwise), online or not."""
    node = nodes.register_node(node_body(name=name, url=url, **fields))[0]
    node.online = online
    db.session.commit()
    return node


def add_report(node: Node, model_id: str, state: str, downloaded_bytes: int = 0, total_bytes: int = 0,
               error: str | None = None) -> None:
    """What `node` last reported about `model_id`."""
    db.session.merge(NodeModel(node_id=node.id, model_id=model_id, state=state, downloaded_bytes=downloaded_bytes,
                               total_bytes=total_bytes, error=error))
    db.session.commit()
