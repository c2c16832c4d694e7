"""How per-node model states add up to one model's lifecycle and Hub status.

Lifecycle (spec): `registered` (stored, no node has started) -> `pending` (a node is fetching)
-> `ready` (ready on at least one online node), or `error` (every assigned node failed).
Hub status: `available` (on no node), `downloading`, `downloaded`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeModelState:
    """One node's report about one model."""

    node_id: str
    node_name: str
    online: bool
    state: str  # "pending" | "downloading" | "ready" | "error"
    downloaded_bytes: int = 0
    total_bytes: int = 0
    error: str | None = None

    def to_dict(self) -> dict:
        return {"node_id": self.node_id, "node_name": self.node_name, "online": self.online, "state": self.state,
                "downloaded_bytes": self.downloaded_bytes, "total_bytes": self.total_bytes,
                "percent": percent(self.downloaded_bytes, self.total_bytes), "error": self.error}


@dataclass(frozen=True)
class ModelSummary:
    lifecycle_status: str | None
    status: str
    download_progress: dict | None
    error: str | None = None


def percent(done: int, total: int) -> float:
    return round(100.0 * done / total, 1) if total > 0 else 0.0


def summarize(registered: bool, states: list[NodeModelState]) -> ModelSummary:
    ready_online = any(s.state == "ready" and s.online for s in states)
    fetching = [s for s in states if s.state in ("pending", "downloading")]
    status = "downloaded" if any(s.state == "ready" for s in states) else \
        "downloading" if any(s.state == "downloading" for s in states) else "available"
    progress = None
    if fetching:
        done = sum(s.downloaded_bytes for s in fetching)
        total = sum(s.total_bytes for s in fetching)
        # Summed over the nodes fetching it: `nodes` says how many, so that a 4 GiB model on two nodes
        # does not read as an 8 GiB download.
        progress = {"downloaded_bytes": done, "total_bytes": total, "percent": percent(done, total),
                    "nodes": len(fetching)}
    if not registered:
        return ModelSummary(None, status, progress)
    if ready_online:
        return ModelSummary("ready", status, progress)
    if fetching:
        return ModelSummary("pending", status, progress)
    if states and all(s.state == "error" for s in states):
        reasons = "; ".join(f"{s.node_name}: {s.error}" for s in states if s.error)
        return ModelSummary("error", status, None, reasons or None)
    return ModelSummary("registered", status, None)
