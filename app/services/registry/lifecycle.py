"""How nodes' reports about one model add up to its lifecycle and Hub status (`statuses` defines both)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..fleet.reports import NodeReport, percent
from ..statuses import FETCHING, HubStatus, Lifecycle, ReportState


@dataclass(frozen=True)
class ModelSummary:
    lifecycle_status: Lifecycle | None
    status: HubStatus
    download_progress: dict | None
    error: str | None = None


def summarize(registered: bool, reports: Sequence[NodeReport]) -> ModelSummary:
    ready_online = any(r.state == ReportState.READY and r.online for r in reports)
    fetching = [r for r in reports if r.state in FETCHING]
    status = HubStatus.DOWNLOADED if any(r.state == ReportState.READY for r in reports) else \
        HubStatus.DOWNLOADING if any(r.state == ReportState.DOWNLOADING for r in reports) else HubStatus.AVAILABLE
    progress = None
    if fetching:
        done = sum(r.downloaded_bytes for r in fetching)
        total = sum(r.total_bytes for r in fetching)
        # Summed over the nodes fetching it: `nodes` says how many, so that a 4 GiB model on two nodes
        # does not read as an 8 GiB download.
        progress = {"downloaded_bytes": done, "total_bytes": total, "percent": percent(done, total),
                    "nodes": len(fetching)}
    if not registered:
        return ModelSummary(None, status, progress)
    if ready_online:
        return ModelSummary(Lifecycle.READY, status, progress)
    if fetching:
        return ModelSummary(Lifecycle.PENDING, status, progress)
    if reports and all(r.state == ReportState.ERROR for r in reports):
        reasons = "; ".join(f"{r.node_name}: {r.error}" for r in reports if r.error)
        return ModelSummary(Lifecycle.ERROR, status, None, reasons or None)
    return ModelSummary(Lifecycle.REGISTERED, status, None)


def offered_actions(record: Mapping[str, Any]) -> tuple[str, ...]:
    """What an admin may do to a registered model now (a model record from `models.model_record`):
    retry once cancelled or failed, cancel while downloading, delete always."""
    if record["cancelled"] or record["lifecycle_status"] == Lifecycle.ERROR:
        return ("retry", "delete")
    if record["lifecycle_status"] == Lifecycle.PENDING:
        return ("cancel", "delete")
    return ("delete",)
