"""Each node's latest report about each model it was asked to hold: one type, one shape, one query.

The poller stores reports as `NodeModel` rows (`polling.apply_status`); everything that reads them
(model lifecycles, routing's reasons, the node page, metrics) goes through `reports()` and gets
`NodeReport`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from ...database import Node, NodeModel
from ...extensions import db
from ..statuses import ReportState


def percent(done: int, total: int) -> float:
    return round(100.0 * done / total, 1) if total > 0 else 0.0


@dataclass(frozen=True)
class NodeReport:
    """One node's report about one model (the node protocol's `models[]` entry, with its node)."""

    node_id: str
    node_name: str
    online: bool
    model_id: str
    state: ReportState | str
    downloaded_bytes: int = 0
    total_bytes: int = 0
    error: str | None = None

    @property
    def percent(self) -> float:
        return percent(self.downloaded_bytes, self.total_bytes)

    def to_dict(self) -> dict[str, Any]:
        """The one shape of a report, in the API (`nodes` of a model record) and on pages."""
        return {"node_id": self.node_id, "node_name": self.node_name, "online": self.online,
                "model_id": self.model_id, "state": str(self.state), "downloaded_bytes": self.downloaded_bytes,
                "total_bytes": self.total_bytes, "percent": self.percent, "error": self.error}


def reports(*, node_id: str | None = None, model_id: str | None = None) -> list[NodeReport]:
    """Reports, ordered by model id then node name; for one node or one model when given."""
    query = (select(NodeModel, Node.name, Node.online).join(Node, Node.id == NodeModel.node_id)
             .order_by(NodeModel.model_id, Node.name))
    if node_id is not None:
        query = query.where(NodeModel.node_id == node_id)
    if model_id is not None:
        query = query.where(NodeModel.model_id == model_id)
    return [NodeReport(row.node_id, name, online, row.model_id, row.state, row.downloaded_bytes, row.total_bytes,
                       row.error) for row, name, online in db.session.execute(query)]


def reports_by_model() -> dict[str, list[NodeReport]]:
    """Every node's latest report, per model id."""
    by_model: dict[str, list[NodeReport]] = {}
    for report in reports():
        by_model.setdefault(report.model_id, []).append(report)
    return by_model


def model_counts() -> dict[str, dict[str, int]]:
    """How many models each node reported in each state: {node_id: {"ready": 2, "error": 1}}."""
    counts: dict[str, dict[str, int]] = {}
    rows = db.session.execute(select(NodeModel.node_id, NodeModel.state, func.count())
                              .group_by(NodeModel.node_id, NodeModel.state))
    for node_id, state, count in rows:
        counts.setdefault(node_id, {})[state] = count
    return counts
