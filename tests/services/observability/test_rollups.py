"""Rollups written with the history (app/services/observability/rollups.py): sums, bins, percentiles."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from app.database import RequestRollup, RequestRollupBin
from app.extensions import db
from app.services.observability import rollups
from app.services.observability.history import Entry, HistoryWriter
from app.services.observability.rollups import HOUR, MINUTE

T0 = datetime(2026, 12, 3, 10, 15, 30, tzinfo=timezone.utc)


def test_a_bucket_starts_on_its_minute_or_hour():
    assert rollups.bucket_start(T0, MINUTE) == datetime(2026, 12, 3, 10, 15, tzinfo=timezone.utc)
    assert rollups.bucket_start(T0, HOUR) == datetime(2026, 12, 3, 10, tzinfo=timezone.utc)
    assert rollups.bucket_start(T0.replace(tzinfo=None), MINUTE).tzinfo == timezone.utc  # SQLite's naive times


@pytest.mark.parametrize("fraction", [0.5, 0.95, 0.99])
def test_a_percentile_from_the_bins_is_within_5_percent(fraction):
    values = [random.Random(seed).lognormvariate(6, 1.2) for seed in range(5000)]
    bins: dict[int, int] = {}
    for value in values:
        bins[rollups.bin_of(value)] = bins.get(rollups.bin_of(value), 0) + 1
    exact = sorted(values)[int(fraction * len(values)) - 1]
    assert rollups.percentile(bins, fraction) == pytest.approx(exact, rel=0.05)
    assert rollups.percentile({}, fraction) is None


def test_a_batch_adds_sums_and_bins_per_minute_and_hour():
    records = [
        {"at": T0, "status": 200, "duration_ms": 100.0, "ttft_ms": 20.0, "prompt_tokens": 5, "completion_tokens": 8},
        {"at": T0 + timedelta(seconds=40), "status": 200, "duration_ms": 300.0, "prompt_tokens": 3,
         "completion_tokens": 2},
        {"at": T0, "status": 503, "duration_ms": 2.0, "error_code": "no_available_nodes"},
        {"at": T0, "status": 429, "duration_ms": 1.0, "error_code": "queue_full"},
        {"at": T0, "status": 400, "duration_ms": 1.0, "error_code": "invalid_request_error"},
    ]
    sums, bins = rollups.deltas(records)
    minute_1 = sums[(MINUTE, datetime(2026, 12, 3, 10, 15, tzinfo=timezone.utc))]
    minute_2 = sums[(MINUTE, datetime(2026, 12, 3, 10, 16, tzinfo=timezone.utc))]
    hour = sums[(HOUR, datetime(2026, 12, 3, 10, tzinfo=timezone.utc))]
    assert minute_1 == {"requests": 4, "errors": 1, "client_errors": 2, "refused": 1, "prompt_tokens": 5,
                        "completion_tokens": 8, "generation_ms": 80.0}
    assert minute_2["requests"] == 1 and minute_2["generation_ms"] == 300.0
    assert hour["requests"] == 5 and hour["completion_tokens"] == 10
    # Only answered requests make latencies: a refusal's millisecond would flatter p50.
    latency = {key[3]: n for key, n in bins.items() if key[0] == HOUR and key[2] == "latency"}
    assert sum(latency.values()) == 2
    assert sum(n for key, n in bins.items() if key[0] == HOUR and key[2] == "ttft") == 1


def test_batches_add_up_in_the_database(app):
    writer = HistoryWriter(app, 1024, lambda count: None)
    for number in range(30):
        writer.add(Entry(id=f"{number:032x}", at=T0, endpoint="/v1/chat/completions", status=200,
                         duration_ms=50.0 + number))
        assert writer.flush()  # thirty batches of one: each adds to the same rows
    writer.close()
    with app.app_context():
        minute = db.session.get(RequestRollup, (MINUTE, rollups.bucket_start(T0, MINUTE)))
        assert minute.requests == 30
        counts = db.session.query(RequestRollupBin).filter_by(resolution=HOUR, metric="latency").all()
        assert sum(row.count for row in counts) == 30


def test_purge_keeps_hours_longer_than_minutes(app):
    with app.app_context():
        rollups.add(db.session, [{"at": T0, "status": 200, "duration_ms": 10.0}])
        rollups.purge(db.session, minute_cutoff=T0 + timedelta(hours=1), hour_cutoff=T0 - timedelta(hours=1))
        db.session.commit()
        assert [row.resolution for row in db.session.query(RequestRollup)] == [HOUR]
        assert {row.resolution for row in db.session.query(RequestRollupBin)} == {HOUR}
