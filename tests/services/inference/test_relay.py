"""The relay's per-process state and its WSGI clock (app/services/inference/relay.py). Forwarding and
failover are exercised through `/v1` in tests/api_v1."""

from __future__ import annotations

import time

import pytest

from app import create_app
from app.services.inference.relay import REQUEST_START, Inference, RequestClock
from app.services.observability.metrics import RouterMetrics
from tests.support.factories import router_config


def test_request_clock_notes_when_the_app_got_the_request():
    seen: dict = {}

    def inner(environ, start_response):
        seen.update(environ)
        start_response("204 No Content", [])
        return [b"body"]

    before = time.perf_counter()
    answer = RequestClock(inner)({"PATH_INFO": "/v1/models"}, lambda status, headers: None)
    after = time.perf_counter()
    assert answer == [b"body"]  # passed through untouched
    assert before <= seen[REQUEST_START] <= after and seen["PATH_INFO"] == "/v1/models"


def test_create_app_installs_the_clock_and_the_inference_state(app):
    assert isinstance(app.wsgi_app, RequestClock)
    state = app.extensions["inference"]
    assert isinstance(state, Inference) and state.metrics is app.extensions["metrics"]


@pytest.mark.parametrize("poll_seconds, retry_after", [(10.0, 10), (0.2, 1), (2.6, 3)])
def test_inference_for_app_reads_the_settings(tmp_path, hub, poll_seconds, retry_after):
    application = create_app(router_config(
        tmp_path, hub.url, ROUTING_CACHE_SECONDS=4.0, NODE_MAX_CONCURRENCY=3, QUEUE_SIZE=7, NODE_COOLDOWN_SECONDS=2.5,
        NODE_CONNECT_TIMEOUT_SECONDS=1.5, NODE_READ_TIMEOUT_SECONDS=9.0, NODE_ATTEMPTS=4, QUEUE_TIMEOUT_SECONDS=11.0,
        NODE_POLL_SECONDS=poll_seconds, KEY_MAX_CONCURRENCY=5, CLIENT_IDLE_TIMEOUT_SECONDS=6.0))
    try:
        metrics = RouterMetrics()
        state = Inference.for_app(application, metrics)
        assert state.table.ttl == 4.0
        assert (state.balancer.max_concurrency, state.balancer.queue_size, state.balancer.cooldown_seconds) == \
            (3, 7, 2.5)
        assert (state.connections.connect_timeout, state.connections.read_timeout) == (1.5, 9.0)
        assert (state.attempts, state.queue_timeout, state.retry_after) == (4, 11.0, retry_after)
        assert (state.clients.limit, state.client_idle_timeout, state.metrics) == (5, 6.0, metrics)
    finally:
        application.extensions["hub_stats"].close()
