"""A node's poll samples averaged into graph points (app/services/fleet/history.py), and its API."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.errors import ApiError
from app.extensions import db
from app.database import NodeSample, utcnow
from app.services.fleet import history as node_history
from app.services.fleet import nodes
from tests.support.factories import NODE

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
GiB = 1024 ** 3
BUCKET = timedelta(hours=1) / node_history.POINTS  # 15 s


def metrics(cpu: float, memory_used: int, gpu: tuple[float, float] | None = None) -> dict:
    figures = {"cpu_percent": cpu, "memory_used_bytes": memory_used, "memory_total_bytes": 8 * GiB}
    if gpu:
        figures["gpus"] = [{"utilization_percent": gpu[0], "memory_used_bytes": 1 * GiB, "memory_total_bytes": 4 * GiB},
                           {"utilization_percent": gpu[1], "memory_used_bytes": 3 * GiB, "memory_total_bytes": 4 * GiB}]
    return figures


@pytest.fixture
def node(app):
    with app.app_context():
        node = nodes.register_node(NODE)[0]
        db.session.commit()
        yield node


def add_sample(node, seconds_ago: float, online: bool = True, requests: int = 0, now: datetime = NOW,
               **figures) -> None:
    db.session.add(NodeSample(node_id=node.id, at=now - timedelta(seconds=seconds_ago), online=online,
                              metrics=metrics(**figures) if figures else {}, active_requests=requests))
    db.session.commit()


def test_samples_in_one_bucket_are_averaged_and_the_busiest_moment_kept(node):
    add_sample(node, 2, cpu=10.0, memory_used=2 * GiB, requests=1, gpu=(50.0, 70.0))
    add_sample(node, 4, cpu=30.0, memory_used=4 * GiB, requests=5, gpu=(30.0, 50.0))
    history = node_history.node_history(node, "1h", now=NOW)
    assert history["bucket_seconds"] == 15.0 and len(history["points"]) == node_history.POINTS
    last = history["points"][-1]
    assert last == {"at": "2026-12-01T12:00:00+00:00", "online": True, "cpu_percent": 20.0, "memory_percent": 37.5,
                    "gpu_percent": 50.0, "gpu_memory_percent": 50.0, "active_requests": 5}


def test_buckets_without_samples_are_gaps_and_older_samples_are_left_out(node):
    add_sample(node, 20, cpu=40.0, memory_used=GiB)       # the bucket before the last
    add_sample(node, 3600 + 5, cpu=99.0, memory_used=GiB)  # outside the window
    points = node_history.node_history(node, "1h", now=NOW)["points"]
    assert points[-2]["cpu_percent"] == 40.0 and points[-2]["gpu_percent"] is None  # no GPU reported
    assert points[-1] == {"at": points[-1]["at"], "online": None, "cpu_percent": None, "memory_percent": None,
                          "gpu_percent": None, "gpu_memory_percent": None, "active_requests": None}
    assert all(point["cpu_percent"] != 99.0 for point in points)
    assert points[0]["at"] == (NOW - timedelta(hours=1) + BUCKET).isoformat()


def test_a_failed_poll_makes_its_bucket_offline(node):
    add_sample(node, 2, cpu=10.0, memory_used=GiB, requests=3)
    add_sample(node, 5, online=False)
    last = node_history.node_history(node, "1h", now=NOW)["points"][-1]
    assert last["online"] is False and last["cpu_percent"] == 10.0 and last["active_requests"] == 3


def test_windows(node):
    assert node_history.node_history(node, "7d", now=NOW)["bucket_seconds"] == 7 * 86400 / node_history.POINTS
    assert node_history.parse_window(None) == "1h"
    with pytest.raises(ApiError) as caught:
        node_history.parse_window("1y")
    assert (caught.value.status, caught.value.param) == (400, "window")
    assert "1h, 6h, 24h, 7d" in caught.value.message


def test_the_api(app, client, node):
    with app.app_context():
        add_sample(db.session.merge(node), 60, now=utcnow(), cpu=10.0, memory_used=GiB)
    answer = client.get(f"/v0/nodes/{node.id}/history?window=6h")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["window"] == "6h" and len(body["points"]) == node_history.POINTS
    assert [point["cpu_percent"] for point in body["points"] if point["cpu_percent"] is not None] == [10.0]
    refused = client.get(f"/v0/nodes/{node.id}/history?window=forever")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["param"] == "window"
    assert client.get("/v0/nodes/nope/history").status_code == 404
