"""A node's history for graphs: the poll samples of a time window, averaged into evenly spaced buckets.

The router samples every node at each poll (every 10 s by default) and keeps 7 days
(`polling.SAMPLE_RETENTION`); a graph wants a few hundred points whatever the window, so samples are
grouped into `POINTS` buckets. A bucket without samples is `None` everywhere (the graph shows a gap
rather than inventing a value); a bucket in which any poll failed counts as offline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from ...errors import ApiError
from ...extensions import db
from ...database import Node, NodeSample, as_utc, iso_utc, utcnow

WINDOWS = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "1h"
POINTS = 240


def parse_window(value: str | None) -> str:
    """The `window` query parameter; a 400 naming the choices for anything else."""
    window = value or DEFAULT_WINDOW
    if window not in WINDOWS:
        raise ApiError(400, "invalid_window", _("'window' must be one of %(choices)s.", choices=", ".join(WINDOWS)),
                       "window")
    return window


def _percent(used: Any, total: Any) -> float | None:
    if not isinstance(used, (int, float)) or not isinstance(total, (int, float)) or total <= 0:
        return None
    return 100.0 * used / total


def _figures(online: bool, metrics: dict[str, Any] | None, active_requests: int) -> dict[str, float | None]:
    """What one sample says, as percentages (GPUs averaged over the node's GPUs) and a request count."""
    metrics = metrics or {}
    gpus = [gpu for gpu in metrics.get("gpus") or [] if isinstance(gpu, dict)]
    utilization = [gpu["utilization_percent"] for gpu in gpus if isinstance(gpu.get("utilization_percent"), (int, float))]
    gpu_memory = [_percent(gpu.get("memory_used_bytes"), gpu.get("memory_total_bytes")) for gpu in gpus]
    gpu_memory = [value for value in gpu_memory if value is not None]
    cpu = metrics.get("cpu_percent")
    return {
        "cpu_percent": float(cpu) if isinstance(cpu, (int, float)) else None,
        "memory_percent": _percent(metrics.get("memory_used_bytes"), metrics.get("memory_total_bytes")),
        "gpu_percent": sum(utilization) / len(utilization) if utilization else None,
        "gpu_memory_percent": sum(gpu_memory) / len(gpu_memory) if gpu_memory else None,
        "active_requests": float(active_requests) if online else None,
    }


def _mean(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(sum(present) / len(present), 2) if present else None


def node_history(node: Node, window: str, now: datetime | None = None) -> dict[str, Any]:
    """`POINTS` buckets covering the last `window`, oldest first."""
    span = WINDOWS[window]
    end = as_utc(now or utcnow())
    start = end - span
    bucket = span / POINTS
    grouped: list[list[tuple]] = [[] for _ in range(POINTS)]
    # Plain rows, not ORM objects: a 7-day window holds some 60,000 samples per node.
    rows = db.session.execute(select(NodeSample.at, NodeSample.online, NodeSample.metrics, NodeSample.active_requests)
                              .where(NodeSample.node_id == node.id, NodeSample.at > start, NodeSample.at <= end))
    for at, online, metrics, active_requests in rows:
        index = min(int((as_utc(at) - start) / bucket), POINTS - 1)
        grouped[index].append((online, metrics, active_requests))
    points = []
    for index, members in enumerate(grouped):
        figures = [_figures(*member) for member in members]
        point: dict[str, Any] = {"at": iso_utc(start + bucket * (index + 1)),
                                 "online": all(member[0] for member in members) if members else None}
        for name in ("cpu_percent", "memory_percent", "gpu_percent", "gpu_memory_percent"):
            point[name] = _mean([item[name] for item in figures])
        requests = [item["active_requests"] for item in figures if item["active_requests"] is not None]
        point["active_requests"] = max(requests) if requests else None  # the busiest moment, not an average
        points.append(point)
    return {"node_id": node.id, "window": window, "bucket_seconds": bucket.total_seconds(), "points": points}
