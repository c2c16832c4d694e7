"""The router's queue in the real server, under each gunicorn worker class: a request waiting for a
node's only slot is served when the slot frees, or answered 504 when it waits too long. (The queue's
rules in detail are in test_inference_balancing.py, in-process; this checks that the waiting works
where gevent replaces threads with greenlets.)"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import requests

from tests.support.inference import MODEL, WORKER_CLASSES, LiveFleet, start_live_fleet
from tests.support.cluster import wait_for
from tests.support.hub_imitation import HubImitation

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Count."}]}


@pytest.fixture(scope="module", params=WORKER_CLASSES)
def queue_fleet(request, tmp_path_factory: pytest.TempPathFactory, hub: HubImitation) -> Iterator[LiveFleet]:
    settings = {"LLM_ROUTER_NODE_MAX_CONCURRENCY": "1", "LLM_ROUTER_QUEUE_SIZE": "4",
                "LLM_ROUTER_QUEUE_TIMEOUT_SECONDS": "2", "LLM_ROUTER_NODE_READ_TIMEOUT_SECONDS": "30"}
    with start_live_fleet(tmp_path_factory.mktemp("queue-fleet"), hub, request.param, settings) as fleet:
        yield fleet


@pytest.fixture
def fleet(queue_fleet: LiveFleet) -> Iterator[LiveFleet]:
    queue_fleet.node.reset()
    queue_fleet.node.max_active = 0
    yield queue_fleet
    queue_fleet.node.reset()


def send(pool: ThreadPoolExecutor, fleet: LiveFleet) -> Future:
    return pool.submit(requests.post, f"{fleet.url}/v1/chat/completions", json=CHAT, timeout=30,
                       headers={"Authorization": f"Bearer {fleet.api_key}"})


def test_a_queued_request_is_served_when_the_slot_frees(fleet: LiveFleet):
    fleet.node.delay = 0.5
    with ThreadPoolExecutor(2) as pool:
        first = send(pool, fleet)
        wait_for(lambda: fleet.node.active == 1, 10, "the first request to reach the node")
        second = send(pool, fleet)
        responses = [first.result(), second.result()]
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    assert fleet.node.max_active == 1  # the second waited in the router, not on the node
    assert float(responses[1].headers["X-Router-Queue-Ms"]) > 0


def test_waiting_longer_than_the_queue_timeout_is_504(fleet: LiveFleet):
    fleet.node.delay = 5.0  # holds the only slot past the 2 s queue timeout
    with ThreadPoolExecutor(2) as pool:
        first = send(pool, fleet)
        wait_for(lambda: fleet.node.active == 1, 10, "the first request to reach the node")
        waiting = send(pool, fleet).result()
        assert waiting.status_code == 504, waiting.text
        error = waiting.json()["error"]
        assert error["code"] == "queue_timeout" and error["type"]
        assert first.result().status_code == 200
    assert fleet.node.max_active == 1
