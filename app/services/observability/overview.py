"""The overview's figures for the last hour, day or week, read from the rollups and fleet samples only.

Each window is a fixed number of buckets ending with the current one (60 minutes, 24 or 168 hours),
so the work per answer is the same whatever the history holds. The previous window of the same
length gives each figure its trend.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from ...database import RequestRollup, RequestRollupBin, iso_utc, utcnow
from ...errors import ApiError
from ...extensions import db
from . import fleet_samples
from .rollups import HOUR, MINUTE, SUMS, bucket_start, percentile

WINDOWS: dict[str, tuple[int, int]] = {"1h": (MINUTE, 60), "24h": (HOUR, 24), "7d": (HOUR, 168)}
FIGURES = ("requests", "errors", "client_errors", "refused", "error_rate", "latency_p50_ms", "latency_p95_ms",
           "ttft_p50_ms", "tokens_per_second", "prompt_tokens", "completion_tokens")
SERIES = ("requests", "errors", "error_rate", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms", "tokens_per_second")


def parse_window(value: str | None) -> str:
    window = value or "1h"
    if window not in WINDOWS:
        raise ApiError(400, "invalid_window", _("The window must be one of: %(windows)s.",
                                                windows=", ".join(WINDOWS)), "window")
    return window


def _figures(sums: dict[str, float], bins: dict[str, dict[int, int]]) -> dict[str, Any]:
    requests = int(sums.get("requests", 0))
    generation_s = sums.get("generation_ms", 0) / 1000
    latency_p50 = percentile(bins.get("latency", {}), 0.5)
    return {
        **{name: int(sums.get(name, 0)) for name in SUMS if name != "generation_ms"},
        "error_rate": sums.get("errors", 0) / requests if requests else None,
        "latency_p50_ms": latency_p50,
        "latency_p95_ms": percentile(bins.get("latency", {}), 0.95),
        "ttft_p50_ms": percentile(bins.get("ttft", {}), 0.5),
        "tokens_per_second": sums.get("completion_tokens", 0) / generation_s if generation_s > 0 else None,
    }


def _trend(now: dict[str, Any], before: dict[str, Any]) -> dict[str, float | None]:
    return {name: (now[name] - before[name]) / before[name] if now[name] is not None and before[name] else None
            for name in FIGURES}


BUCKET_PERCENTILES = ("latency_p50_ms", "latency_p95_ms", "ttft_p50_ms")


def _rows(resolution: int, since: datetime, until: datetime) -> dict[datetime, RequestRollup]:
    rows = db.session.execute(select(RequestRollup).where(
        RequestRollup.resolution == resolution, RequestRollup.start >= since, RequestRollup.start < until)).scalars()
    return {bucket_start(row.start, resolution): row for row in rows}


def _sums(row: RequestRollup | None) -> dict[str, float]:
    return {name: getattr(row, name) for name in SUMS} if row is not None else {}


def _total_bins(resolution: int, since: datetime, until: datetime) -> dict[str, dict[int, int]]:
    """A window's bins summed in the database, for its totals' percentiles."""
    totals: dict[str, dict[int, int]] = defaultdict(dict)
    rows = db.session.execute(select(RequestRollupBin.metric, RequestRollupBin.bin, func.sum(RequestRollupBin.count))
                              .where(RequestRollupBin.resolution == resolution, RequestRollupBin.start >= since,
                                     RequestRollupBin.start < until)
                              .group_by(RequestRollupBin.metric, RequestRollupBin.bin))
    for metric, index, count in rows:
        totals[metric][index] = int(count)
    return totals


def _add(into: dict, more: dict) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def overview(window: str, now: datetime | None = None) -> dict[str, Any]:
    resolution, count = WINDOWS[window]
    step = timedelta(seconds=resolution)
    last = bucket_start(now or utcnow(), resolution)
    starts = [last - step * (count - 1 - i) for i in range(count)]
    since, until, previous_since = starts[0], last + step, starts[0] - step * count

    rows = _rows(resolution, since, until)
    total_sums: dict[str, float] = {}
    series: dict[str, list[Any]] = {"at": [iso_utc(start) for start in starts], **{name: [] for name in SERIES}}
    for start in starts:
        row = rows.get(start)
        bucket = {**_figures(_sums(row), {}),
                  **{name: getattr(row, name) for name in BUCKET_PERCENTILES if row is not None}}
        for name in SERIES:
            series[name].append(bucket[name])
        _add(total_sums, _sums(row))
    previous_sums: dict[str, float] = {}
    for row in _rows(resolution, previous_since, since).values():
        _add(previous_sums, _sums(row))

    samples = fleet_samples.samples(resolution, since)
    for name in fleet_samples.COUNTS:
        series[name] = [samples.get(start, {}).get(name) for start in starts]
    totals = _figures(total_sums, _total_bins(resolution, since, until))
    previous = _figures(previous_sums, _total_bins(resolution, previous_since, since))
    return {"window": window, "resolution": resolution, "start": iso_utc(since), "end": iso_utc(until),
            "fleet": fleet_samples.fleet_now(), "totals": totals, "previous": previous,
            "trend": _trend(totals, previous), "series": series}
