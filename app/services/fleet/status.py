"""What a node's status answer may say (docs/protocol.md), typed and bounded.

A status is read up to `MAX_STATUS_BYTES`, and only its known fields are kept, so that what a node
says never grows the database or breaks a page.
"""

from __future__ import annotations

import math
from typing import Any

from ...database import NodeModel, utcnow
from ..statuses import ReportState

MAX_STATUS_BYTES = 1024 * 1024
STATUS_DEADLINE_SECONDS = 10.0
MAX_BYTES = 2 ** 60  # 1 EiB: more than any machine, and well within SQLite's 64-bit integers
MAX_CPUS = 1 << 20
MAX_GPUS = 64
MAX_REPORTS = 10_000
MAX_LOADED_MODELS = 1000


def is_count(value: Any, limit: int = MAX_BYTES) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def count(value: Any) -> int:
    """A byte or request count from a node; anything else is a malformed status."""
    if value is None:
        return 0
    if not is_count(value):
        raise ValueError(f"not a count: {str(value)[:40]!r}")
    return value



def short_text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value.isprintable() else None


def _number(value: Any, low: float, high: float) -> float | int | None:
    """A finite number from a node, clamped to [low, high]; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return min(max(value, low), high)


def _figures(raw: dict[str, Any], percent_key: str) -> dict[str, Any]:
    """One machine's or GPU's figures: its percentage (0 to 100) and memory byte counts, each kept only
    when it is one."""
    figures: dict[str, Any] = {}
    percent = _number(raw.get(percent_key), 0, 100)
    if percent is not None:
        figures[percent_key] = percent
    for key in ("memory_used_bytes", "memory_total_bytes"):
        if is_count(raw.get(key)):
            figures[key] = raw[key]
    return figures


def shape_metrics(raw: Any) -> dict[str, Any]:
    """The protocol's `metrics`, typed and bounded: known numeric keys and a GPU list of known shape.
    Unknown fields are dropped and wrong types left out, so pages and graphs get numbers or nothing."""
    if not isinstance(raw, dict):
        return {}
    metrics = _figures(raw, "cpu_percent")
    gpus = raw.get("gpus")
    if isinstance(gpus, list):
        metrics["gpus"] = [{"name": short_text(gpu.get("name"), 100) or "", **_figures(gpu, "utilization_percent")}
                           for gpu in gpus[:MAX_GPUS] if isinstance(gpu, dict)]
    return metrics



def parse_report(item: Any) -> NodeModel:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or item.get("state") not in tuple(ReportState):
        raise ValueError("a model report needs an id and a known state")
    error = item.get("error")
    return NodeModel(model_id=item["id"][:255], state=item["state"],
                     downloaded_bytes=count(item.get("downloaded_bytes")),
                     total_bytes=count(item.get("total_bytes")),
                     error=str(error)[:2000] if error else None, updated_at=utcnow())
