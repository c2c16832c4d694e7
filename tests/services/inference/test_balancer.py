"""The balancer's own rules (app/services/inference/balancer.py), without HTTP: least busy, round robin,
a limit per node, a bounded FIFO queue, cooldowns; and the per-client limit. The same rules through
`/v1` are in tests/api_v1/test_inference_balancing.py."""

from __future__ import annotations

import threading
import time

import pytest

from app.services.inference.balancer import Balancer, ClientLimit, QueueFull, QueueTimeout
from app.services.inference.node_client import NodeTarget

A = NodeTarget.of("a", "node-a", "http://127.0.0.1:8001", "t")
B = NodeTarget.of("b", "node-b", "http://127.0.0.1:8002", "t")


class Waiting:
    """`balancer.acquire` in another thread; `target()` waits (bounded) for what it got."""

    def __init__(self, balancer: Balancer, candidates, first_in_line: bool = False) -> None:
        self.got: NodeTarget | Exception | None = None

        def run() -> None:
            try:
                self.got = balancer.acquire(candidates, (), 20, first_in_line)
            except Exception as exc:  # handed to the test
                self.got = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def target(self):
        self.thread.join(20)
        assert not self.thread.is_alive(), "still waiting"
        return self.got


def wait_for_waiters(balancer: Balancer, count: int) -> None:
    for _ in range(2000):
        if balancer.waiting == count:
            return
        time.sleep(0.005)
    raise AssertionError(f"expected {count} waiting, got {balancer.waiting}")


def test_least_busy_then_round_robin():
    balancer = Balancer(max_concurrency=4, queue_size=0, cooldown_seconds=60)
    picks = [balancer.acquire([A, B], (), 1).node_id for _ in range(4)]
    assert picks == ["a", "b", "a", "b"]
    balancer.release(B)
    balancer.release(B)
    assert balancer.snapshot() == {"a": 2}
    assert [balancer.acquire([A, B], (), 1).node_id for _ in range(3)] == ["b", "b", "a"]


def test_excluded_nodes_are_not_picked():
    balancer = Balancer(max_concurrency=4, queue_size=0, cooldown_seconds=60)
    assert [balancer.acquire([A, B], {"a"}, 1).node_id for _ in range(3)] == ["b", "b", "b"]


def test_full_nodes_queue_and_a_release_serves_the_first_waiter():
    balancer = Balancer(max_concurrency=1, queue_size=1, cooldown_seconds=60)
    assert balancer.acquire([A], (), 1) == A
    waiter = Waiting(balancer, [A])
    wait_for_waiters(balancer, 1)
    with pytest.raises(QueueFull):
        balancer.acquire([A], (), 1)
    balancer.release(A)
    assert waiter.target() == A
    assert balancer.waiting == 0 and balancer.snapshot() == {"a": 1}
    with pytest.raises(QueueTimeout):
        balancer.acquire([A], (), 0.05)
    assert balancer.waiting == 0  # a timed-out waiter leaves the queue


def test_a_failover_waits_first_in_line_even_when_the_queue_is_full():
    balancer = Balancer(max_concurrency=1, queue_size=1, cooldown_seconds=60)
    balancer.acquire([A], (), 1)
    newcomer = Waiting(balancer, [A])
    wait_for_waiters(balancer, 1)
    failover = Waiting(balancer, [A], first_in_line=True)
    wait_for_waiters(balancer, 2)
    balancer.release(A)
    assert failover.target() == A
    assert newcomer.thread.is_alive() and balancer.waiting == 1
    balancer.release(A)
    assert newcomer.target() == A


def test_a_failed_node_cools_down_unless_it_is_the_only_one():
    balancer = Balancer(max_concurrency=4, queue_size=0, cooldown_seconds=60)
    balancer.release(balancer.acquire([A], (), 1), failed=True)
    assert balancer.cooling() == ["a"]
    assert [balancer.acquire([A, B], (), 1).node_id for _ in range(3)] == ["b", "b", "b"]
    assert balancer.acquire([A], (), 1) == A  # every candidate cooling: tried anyway
    balancer.release(A)  # a success clears the cooldown
    assert balancer.cooling() == []


def test_client_limit():
    limit = ClientLimit(2)
    assert [limit.enter("key") for _ in range(3)] == [True, True, False]
    assert limit.enter("other key") and limit.active("key") == 2
    limit.leave("key")
    assert limit.active("key") == 1 and limit.enter("key")
    unlimited = ClientLimit(0)
    assert all(unlimited.enter("key") for _ in range(100)) and unlimited.active("key") == 100
