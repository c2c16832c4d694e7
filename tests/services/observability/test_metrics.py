"""Prometheus metrics (app/services/observability/metrics.py): this process's counters, and the fleet
read from the database at each scrape."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.services.observability.metrics import RouterMetrics, current
from app.services.registry import models as registry
from tests.support.rows import add_node, add_report
from tests.support.status_node import GiB


@pytest.fixture
def scrape(app, monkeypatch):
    """The exposition of `metrics` as text lines, inside a request (as `GET /v0/metrics` makes it)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # one process: its own counters

    def lines(metrics: RouterMetrics) -> set[str]:
        with app.test_request_context("/v0/metrics"):
            body, content_type = metrics.exposition()
        assert content_type.startswith("text/plain; version=")
        return set(body.decode().splitlines())

    return lines


def test_counters_and_histograms_of_the_inference_path(scrape):
    metrics = RouterMetrics()
    metrics.record_inference("chat", "qwen3-0.6b", 200, 0.2)
    metrics.record_inference("chat", "qwen3-0.6b", 200, 3.0)
    metrics.record_inference("embeddings", "", 404, 0.001)
    metrics.record_node_failure("box")
    lines = scrape(metrics)
    assert 'llm_router_inference_requests_total{endpoint="chat",model="qwen3-0.6b",status="200"} 2.0' in lines
    assert 'llm_router_inference_requests_total{endpoint="embeddings",model="",status="404"} 1.0' in lines
    assert 'llm_router_inference_response_seconds_count{endpoint="chat"} 2.0' in lines
    assert 'llm_router_inference_response_seconds_bucket{endpoint="chat",le="0.25"} 1.0' in lines
    assert 'llm_router_inference_response_seconds_bucket{endpoint="chat",le="5.0"} 2.0' in lines
    assert 'llm_router_node_failures_total{node="box"} 1.0' in lines


def test_each_metrics_object_counts_for_itself(app, scrape):
    first, second = RouterMetrics(), RouterMetrics()
    first.record_node_failure("box")
    assert not any(line.startswith("llm_router_node_failures_total{") for line in scrape(second))
    with app.app_context():
        assert current() is app.extensions["metrics"]


def test_fleet_gauges_for_registered_nodes(app, scrape):
    with app.app_context():
        gpu = add_node("gpu-box", platform="linux-cuda", gpus=[{"name": "L4", "memory_bytes": 24 * GiB}])
        gpu.metrics = {"cpu_percent": 12.5, "memory_used_bytes": 4 * GiB,
                       "gpus": [{"name": "L4", "utilization_percent": 87.0, "memory_used_bytes": 6 * GiB}]}
        gpu.active_requests = 2
        down = add_node("down-box", online=False)
        down.metrics = {"cpu_percent": 99.0}
        db.session.commit()
    lines = scrape(RouterMetrics())
    assert {'llm_router_nodes{state="online"} 1.0', 'llm_router_nodes{state="offline"} 1.0',
            'llm_router_node_up{node="gpu-box"} 1.0', 'llm_router_node_up{node="down-box"} 0.0',
            'llm_router_node_active_requests{node="gpu-box"} 2.0',
            'llm_router_node_cpu_percent{node="gpu-box"} 12.5',
            'llm_router_node_memory_used_bytes{node="gpu-box"} 4.294967296e+09',
            'llm_router_node_gpu_utilization_percent{gpu="0",node="gpu-box"} 87.0',
            'llm_router_node_gpu_memory_used_bytes{gpu="0",node="gpu-box"} 6.442450944e+09'} <= lines
    assert not any('node="down-box"' in line for line in lines if not line.startswith("llm_router_node_up"))


def test_models_by_lifecycle(app, scrape):
    with app.app_context():
        for model_id in ("qwen3-0.6b", "phi-4", "gemma-3-4b-it"):
            registry.register({"id": model_id})
        node = add_node("box")
        add_report(node, "qwen3-0.6b", "ready")
        add_report(node, "phi-4", "downloading", 1, 2)
    lines = scrape(RouterMetrics())
    assert {'llm_router_models{lifecycle="registered"} 1.0', 'llm_router_models{lifecycle="pending"} 1.0',
            'llm_router_models{lifecycle="ready"} 1.0', 'llm_router_models{lifecycle="error"} 0.0'} <= lines
