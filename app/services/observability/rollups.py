"""Per-minute and per-hour sums of the request history, written with each history batch.

The overview reads these, never the raw rows, so it answers in the same time at ten rows or ten
million. Every count is a sum and every histogram bin a count, added with an upsert: several
writers (gunicorn workers, several routers) add to the same row without reading it first. A row's
percentiles are read again from its bins by the writer that last added to them.

Latencies go into logarithmic bins (each ~10% wider than the last, as DDSketch does), so a
percentile read back from the bins is within 5% of the true value. Written here rather than taken
from the `ddsketch` package: its sketches merge in Python, not in an SQL `count = count + n`.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ...database import RequestRollup, RequestRollupBin, as_utc

MINUTE = 60
HOUR = 3600
RESOLUTIONS = (MINUTE, HOUR)
GAMMA = 1.1  # a bin's upper edge over its lower edge
REFUSED_CODES = frozenset({"queue_full", "queue_timeout"})
SUMS = ("requests", "errors", "client_errors", "refused", "prompt_tokens", "completion_tokens", "generation_ms")


def bucket_start(moment: datetime, resolution: int) -> datetime:
    """The start of the minute or hour holding `moment`, in UTC."""
    moment = as_utc(moment).replace(second=0, microsecond=0)
    return moment.replace(minute=0) if resolution == HOUR else moment


def bin_of(ms: float) -> int:
    """The bin holding `ms`: bin b covers (GAMMA**(b-1), GAMMA**b]; everything under 1 ms is bin 0."""
    return 0 if ms <= 1.0 else math.ceil(math.log(ms) / math.log(GAMMA))


def bin_value(index: int) -> float:
    """The value a bin stands for: the point within 5% of every value in it."""
    return 1.0 if index <= 0 else 2 * GAMMA ** index / (GAMMA + 1)


def percentile(bins: Mapping[int, int], fraction: float) -> float | None:
    """The `fraction` percentile (0.5 for p50) of the counts in `bins`, or None when there are none."""
    total = sum(bins.values())
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= rank:
            return bin_value(index)
    return bin_value(max(bins))


def deltas(records: Iterable[Mapping[str, Any]]) -> tuple[dict, dict]:
    """What a batch of history rows adds: sums per (resolution, start), and bin counts per
    (resolution, start, metric, bin)."""
    sums: dict[tuple[int, datetime], dict[str, float]] = defaultdict(lambda: dict.fromkeys(SUMS, 0))
    bins: dict[tuple[int, datetime, str, int], int] = defaultdict(int)
    for record in records:
        status = record["status"]
        completion = record.get("completion_tokens")
        for resolution in RESOLUTIONS:
            start = bucket_start(record["at"], resolution)
            row = sums[(resolution, start)]
            row["requests"] += 1
            row["errors"] += status >= 500
            row["client_errors"] += 400 <= status < 500
            row["refused"] += record.get("error_code") in REFUSED_CODES
            row["prompt_tokens"] += record.get("prompt_tokens") or 0
            if completion:
                row["completion_tokens"] += completion
                row["generation_ms"] += record["duration_ms"] - (record.get("ttft_ms") or 0.0)
            if status < 400:  # latency of answers: a refusal's few microseconds would flatter p50
                bins[(resolution, start, "latency", bin_of(record["duration_ms"]))] += 1
                if record.get("ttft_ms") is not None:
                    bins[(resolution, start, "ttft", bin_of(record["ttft_ms"]))] += 1
    return sums, bins


def _upsert(session: Session, table: Any, keys: tuple[str, ...], rows: list[dict[str, Any]],
            added: tuple[str, ...]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(table.__table__.c, name) + getattr(statement.excluded, name) for name in added})
    session.execute(statement, rows)


def add(session: Session, records: Iterable[Mapping[str, Any]]) -> None:
    """Add a batch of history rows to the rollups, in the caller's transaction, and read again the
    percentiles of the rows it added to (usually one minute and one hour)."""
    sums, bins = deltas(records)
    _upsert(session, RequestRollup, ("resolution", "start"),
            [{"resolution": resolution, "start": start, **row} for (resolution, start), row in sums.items()], SUMS)
    _upsert(session, RequestRollupBin, ("resolution", "start", "metric", "bin"),
            [{"resolution": r, "start": s, "metric": m, "bin": b, "count": n} for (r, s, m, b), n in bins.items()],
            ("count",))
    for resolution, start in {(r, s) for (r, s, _metric, _bin) in bins}:
        _refresh_percentiles(session, resolution, start)


def _refresh_percentiles(session: Session, resolution: int, start: datetime) -> None:
    counts: dict[str, dict[int, int]] = {"latency": {}, "ttft": {}}
    for metric, index, count in session.execute(
            select(RequestRollupBin.metric, RequestRollupBin.bin, RequestRollupBin.count)
            .where(RequestRollupBin.resolution == resolution, RequestRollupBin.start == start)):
        counts.setdefault(metric, {})[index] = count
    session.execute(update(RequestRollup).where(RequestRollup.resolution == resolution, RequestRollup.start == start)
                    .values(latency_p50_ms=percentile(counts["latency"], 0.5),
                            latency_p95_ms=percentile(counts["latency"], 0.95),
                            ttft_p50_ms=percentile(counts["ttft"], 0.5)),
                    execution_options={"synchronize_session": False})


PURGE_SPAN = {MINUTE: timedelta(minutes=5), HOUR: timedelta(hours=6)}  # rows of one transaction: ~500 bins


def purge(session: Session, minute_cutoff: datetime, hour_cutoff: datetime, pause: float = 0.05) -> None:
    """Drop minute rows older than `minute_cutoff` and hour rows older than `hour_cutoff`, oldest first,
    PURGE_SPAN of them per transaction (a day of minutes holds over a hundred thousand bins: deleted at
    once, they would hold the database's writers up for seconds)."""
    for resolution, cutoff in ((MINUTE, minute_cutoff), (HOUR, hour_cutoff)):
        while True:
            oldest = session.scalar(select(func.min(RequestRollup.start)).where(
                RequestRollup.resolution == resolution, RequestRollup.start < cutoff))
            if oldest is None:
                break
            until = min(as_utc(oldest) + PURGE_SPAN[resolution], cutoff)
            for table in (RequestRollupBin, RequestRollup):
                session.execute(delete(table).where(table.resolution == resolution, table.start < until),
                                execution_options={"synchronize_session": False})
            session.commit()
            time.sleep(pause)
