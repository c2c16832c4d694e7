"""The overview's figures (app/services/observability/overview.py), from rollups and fleet samples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.errors import ApiError
from app.extensions import db
from app.services.observability import fleet_samples, overview, rollups
from app.services.registry import models as registry
from tests.support.rows import add_node, add_report

NOW = datetime(2026, 12, 3, 10, 30, 10, tzinfo=timezone.utc)


def answered(at: datetime, duration_ms: float, **fields) -> dict:
    return {"at": at, "status": 200, "duration_ms": duration_ms, **fields}


def test_the_last_hour_has_sixty_minutes_with_their_figures(app):
    with app.app_context():
        rollups.add(db.session, [
            answered(NOW, 100.0, ttft_ms=40.0, completion_tokens=30),  # 30 tokens in 60 ms of generation
            answered(NOW - timedelta(minutes=5), 200.0),
            {"at": NOW - timedelta(minutes=5), "status": 502, "duration_ms": 5.0},
            answered(NOW - timedelta(minutes=90), 1000.0),  # the hour before: the trend's baseline
        ])
        db.session.commit()
        figures = overview.overview("1h", now=NOW)
    series = figures["series"]
    assert len(series["at"]) == 60 and series["at"][-1] == "2026-12-03T10:30:00+00:00"
    assert figures["start"] == "2026-12-03T09:31:00+00:00" and figures["end"] == "2026-12-03T10:31:00+00:00"
    assert series["requests"][-1] == 1 and series["requests"][-6] == 2 and sum(series["requests"]) == 3
    assert series["error_rate"][-6] == 0.5 and series["error_rate"][0] is None  # no request: a gap, not 0
    assert series["tokens_per_second"][-1] == pytest.approx(500.0)
    # Each bucket's percentiles (worked out by the database): the 502 has no latency, only answers do.
    assert series["latency_p50_ms"][-1] == pytest.approx(100.0, rel=0.05)
    assert series["latency_p95_ms"][-6] == pytest.approx(200.0, rel=0.05)
    assert series["ttft_p50_ms"][-1] == pytest.approx(40.0, rel=0.05) and series["ttft_p50_ms"][-6] is None
    assert series["latency_p50_ms"][0] is None
    totals = figures["totals"]
    assert (totals["requests"], totals["errors"], totals["error_rate"]) == (3, 1, pytest.approx(1 / 3))
    assert totals["latency_p50_ms"] == pytest.approx(100.0, rel=0.05)
    assert totals["latency_p95_ms"] == pytest.approx(200.0, rel=0.05)
    assert totals["ttft_p50_ms"] == pytest.approx(40.0, rel=0.05)
    assert figures["previous"]["requests"] == 1
    assert figures["trend"]["requests"] == pytest.approx(2.0)  # three against one: +200%
    assert figures["trend"]["latency_p50_ms"] == pytest.approx(-0.9, rel=0.1)


def test_a_week_is_168_hours(app):
    with app.app_context():
        rollups.add(db.session, [answered(NOW - timedelta(days=6, hours=23), 10.0),
                                 answered(NOW - timedelta(days=8), 10.0)])
        db.session.commit()
        figures = overview.overview("7d", now=NOW)
    assert figures["resolution"] == 3600 and len(figures["series"]["at"]) == 168
    assert figures["totals"]["requests"] == 1 and figures["previous"]["requests"] == 1
    assert figures["trend"]["requests"] == 0.0


def test_fleet_counts_and_their_samples(app):
    with app.app_context():
        online, offline = add_node("gpu-1"), add_node("gpu-2", url="http://127.0.0.1:10", online=False)
        for model_id in ("qwen3-0.6b", "phi-4"):
            registry.register({"id": model_id})
        add_report(online, "qwen3-0.6b", "ready")
        add_report(offline, "phi-4", "error", error="disk full")
        fleet_samples.record(db.session, now=NOW - timedelta(minutes=1))
        add_report(online, "phi-4", "downloading", 10, 100)
        fleet_samples.record(db.session, now=NOW)
        fleet_samples.record(db.session, now=NOW)  # the same minute again: overwritten, not added
        figures = overview.overview("1h", now=NOW)
    assert figures["fleet"] == {"nodes_online": 1, "nodes_offline": 1, "models_ready": 1,
                                "models_downloading": 1, "models_failed": 0}
    series = figures["series"]
    assert (series["models_failed"][-2], series["models_failed"][-1]) == (1, 0)
    assert series["models_downloading"][-1] == 1 and series["nodes_online"][-1] == 1
    assert series["nodes_online"][0] is None  # not sampled then


def test_another_window_is_refused():
    with pytest.raises(ApiError) as refused:
        overview.parse_window("2h")
    assert refused.value.status == 400 and refused.value.param == "window"
    assert overview.parse_window(None) == "1h"
