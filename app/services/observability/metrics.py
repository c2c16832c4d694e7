"""Prometheus metrics (`GET /v0/metrics`): what the router did, and what the fleet looks like.

- Counters and histograms of the inference path live in each gunicorn worker. Under gunicorn,
  `gunicorn.conf.py` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start,
  and prometheus_client's multiprocess mode sums every worker's figures at each scrape, so a
  scrape answered by any worker counts the requests of all of them.
- The fleet (nodes, their latest figures, models by lifecycle) is read from the database at each
  scrape, so it is the same whichever worker answers and costs nothing between scrapes.

Labels hold only what an admin named (registered model ids, node names), never what a client
typed: a request for an unknown model counts under `model=""`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from flask import current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, \
    multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..fleet import nodes
from ..statuses import Lifecycle
from ..registry import models as registry

class RouterMetrics:
    """This process's counters of the inference path, made in `create_app` (`app.extensions["metrics"]`).
    Under gunicorn, prometheus_client's multiprocess mode keeps their values in files per worker."""

    def __init__(self) -> None:
        self.requests = Counter(
            "llm_router_inference_requests",
            "Inference requests the router answered, by endpoint, model and HTTP status.",
            ["endpoint", "model", "status"], registry=None)
        self.seconds = Histogram(
            "llm_router_inference_response_seconds",
            "Seconds until the router's answer started: the whole answer without streaming, the first event of a "
            "stream.", ["endpoint"], registry=None,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.node_failures = Counter(
            "llm_router_node_failures", "Attempts on a node that failed (refused, timed out, 5xx) and were failed over.",
            ["node"], registry=None)
        self.history_dropped = Counter(
            "llm_router_history_dropped", "Requests served but not recorded in the request history (its queue was "
            "full, or the database failed).", registry=None)

    def record_history_dropped(self, count: int) -> None:
        self.history_dropped.inc(count)

    def record_inference(self, endpoint: str, model: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, model, str(status)).inc()
        self.seconds.labels(endpoint).observe(seconds)

    def record_node_failure(self, node_name: str) -> None:
        self.node_failures.labels(node_name).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The scrape's body and content type (inside a request: the fleet is read from the database)."""
        scrape = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.MultiProcessCollector(scrape)  # every worker's counters, summed
        else:
            for metric in (self.requests, self.seconds, self.node_failures, self.history_dropped):  # one process: its own figures
                scrape.register(metric)
        scrape.register(_FleetCollector())
        return generate_latest(scrape), CONTENT_TYPE_LATEST


def current() -> RouterMetrics:
    return current_app.extensions["metrics"]


class _FleetCollector(Collector):
    """Gauges read from the database when scraped (inside the request's app context)."""

    def collect(self) -> Iterator[Metric]:
        all_nodes = nodes.all_nodes()
        states = GaugeMetricFamily("llm_router_nodes", "Registered nodes, by state.", labels=["state"])
        online = sum(1 for node in all_nodes if node.online)
        states.add_metric(["online"], online)
        states.add_metric(["offline"], len(all_nodes) - online)
        yield states

        up = GaugeMetricFamily("llm_router_node_up", "1 while the node answers the router's polls.", labels=["node"])
        active = GaugeMetricFamily("llm_router_node_active_requests", "Requests in flight on the node, as last polled.",
                                   labels=["node"])
        cpu = GaugeMetricFamily("llm_router_node_cpu_percent", "The node's CPU use, as last polled.", labels=["node"])
        memory = GaugeMetricFamily("llm_router_node_memory_used_bytes", "The node's memory in use, as last polled.",
                                   labels=["node"])
        gpu = GaugeMetricFamily("llm_router_node_gpu_utilization_percent", "Each GPU's use, as last polled.",
                                labels=["node", "gpu"])
        gpu_memory = GaugeMetricFamily("llm_router_node_gpu_memory_used_bytes", "Each GPU's memory in use, as last "
                                       "polled.", labels=["node", "gpu"])
        for node in all_nodes:
            up.add_metric([node.name], 1 if node.online else 0)
            if not node.online:
                continue  # no stale figures for a node that does not answer
            active.add_metric([node.name], node.active_requests)
            figures = node.metrics or {}
            if isinstance(figures.get("cpu_percent"), (int, float)):
                cpu.add_metric([node.name], figures["cpu_percent"])
            if isinstance(figures.get("memory_used_bytes"), (int, float)):
                memory.add_metric([node.name], figures["memory_used_bytes"])
            for index, card in enumerate(item for item in figures.get("gpus") or [] if isinstance(item, dict)):
                if isinstance(card.get("utilization_percent"), (int, float)):
                    gpu.add_metric([node.name, str(index)], card["utilization_percent"])
                if isinstance(card.get("memory_used_bytes"), (int, float)):
                    gpu_memory.add_metric([node.name, str(index)], card["memory_used_bytes"])
        yield from (up, active, cpu, memory, gpu, gpu_memory)

        lifecycles = GaugeMetricFamily("llm_router_models", "Registered models, by lifecycle.", labels=["lifecycle"])
        counts = dict.fromkeys((str(value) for value in Lifecycle), 0)
        for record in registry.model_records():
            counts[record["lifecycle_status"]] = counts.get(record["lifecycle_status"], 0) + 1
        for lifecycle, count in counts.items():
            lifecycles.add_metric([lifecycle], count)
        yield lifecycles
