"""Which node serves a request: fewest requests in flight, round robin on ties, a concurrency limit
per node, a bounded FIFO queue when every candidate is full, and a short cooldown after a failure.

All of it is state of one worker process (gunicorn runs several): each worker counts only its own
requests, so a node may receive up to workers x `NODE_MAX_CONCURRENCY` at once, and each worker has
its own queue. The README says how to size the settings for that.

Cooldown: a node that just failed is skipped for `NODE_COOLDOWN_SECONDS` — unless every candidate
left for the request is cooling down, in which case they are tried anyway (a model served by one
node then keeps being tried, rather than refused for the cooldown). A success clears a node's
cooldown. No node is ever excluded for longer.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Collection, Sequence

from .node_client import NodeTarget


class QueueFull(Exception):
    """Every candidate is at its limit and the queue holds `QUEUE_SIZE` requests already."""


class QueueTimeout(Exception):
    """Waited `QUEUE_TIMEOUT_SECONDS` in the queue without a node becoming free."""


class _NodeLoad:
    __slots__ = ("active", "last_pick", "cool_until")

    def __init__(self) -> None:
        self.active = 0
        self.last_pick = 0
        self.cool_until = 0.0


class _Waiter:
    __slots__ = ("candidates", "exclude", "event", "target")

    def __init__(self, candidates: Sequence[NodeTarget], exclude: Collection[str]) -> None:
        self.candidates = candidates
        self.exclude = exclude
        self.event = threading.Event()
        self.target: NodeTarget | None = None


class Balancer:
    def __init__(self, max_concurrency: int, queue_size: int, cooldown_seconds: float) -> None:
        self.max_concurrency = max_concurrency
        self.queue_size = queue_size
        self.cooldown_seconds = cooldown_seconds
        self._loads: dict[str, _NodeLoad] = {}
        self._waiters: deque[_Waiter] = deque()
        self._picks = itertools.count(1)
        self._lock = threading.Lock()

    def _load(self, node_id: str) -> _NodeLoad:
        load = self._loads.get(node_id)
        if load is None:
            load = self._loads[node_id] = _NodeLoad()
        return load

    def _pick(self, candidates: Sequence[NodeTarget], exclude: Collection[str], now: float) -> NodeTarget | None:
        """Caller holds the lock. The least busy free candidate, preferring nodes not cooling down."""
        usable = [target for target in candidates if target.node_id not in exclude]
        warm = [target for target in usable if self._load(target.node_id).cool_until <= now]
        best: NodeTarget | None = None
        best_key: tuple[int, int] = (0, 0)
        for target in warm or usable:
            load = self._loads[target.node_id]
            if load.active >= self.max_concurrency:
                continue
            key = (load.active, load.last_pick)  # least recently picked wins a tie: round robin
            if best is None or key < best_key:
                best, best_key = target, key
        if best is not None:
            load = self._loads[best.node_id]
            load.active += 1
            load.last_pick = next(self._picks)
        return best

    def acquire(self, candidates: Sequence[NodeTarget], exclude: Collection[str], timeout: float,
                first_in_line: bool = False) -> NodeTarget:
        """A node with a free slot (count it as busy until `release`), waiting in the queue if needed.
        `first_in_line`: a request failing over after its node failed waits ahead of newcomers and is
        never refused for a full queue (it has queued once already)."""
        with self._lock:
            target = self._pick(candidates, exclude, time.monotonic())
            if target is not None:
                return target
            if not first_in_line and len(self._waiters) >= self.queue_size:
                raise QueueFull()
            waiter = _Waiter(candidates, exclude)
            if first_in_line:
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
        if not waiter.event.wait(timeout):
            with self._lock:
                if waiter.target is None:
                    self._waiters.remove(waiter)
                    raise QueueTimeout()
        assert waiter.target is not None
        return waiter.target

    def release(self, target: NodeTarget, failed: bool = False) -> None:
        """The request left the node. `failed`: cool the node down; otherwise a success clears it."""
        with self._lock:
            load = self._load(target.node_id)
            load.active -= 1
            if failed:
                load.cool_until = time.monotonic() + self.cooldown_seconds
            elif load.cool_until:
                load.cool_until = 0.0
            if self._waiters:
                self._serve_waiters()

    def _serve_waiters(self) -> None:
        """Caller holds the lock. Hand free slots to waiters in queue order; a waiter whose nodes are
        all full does not hold up those behind it that can use another node."""
        now = time.monotonic()
        for waiter in list(self._waiters):
            target = self._pick(waiter.candidates, waiter.exclude, now)
            if target is not None:
                self._waiters.remove(waiter)
                waiter.target = target
                waiter.event.set()

    def snapshot(self) -> dict[str, int]:
        """Requests in flight per node id (for tests and diagnostics)."""
        with self._lock:
            return {node_id: load.active for node_id, load in self._loads.items() if load.active}

    def cooling(self) -> list[str]:
        """Ids of the nodes cooling down now."""
        now = time.monotonic()
        with self._lock:
            return sorted(node_id for node_id, load in self._loads.items() if load.cool_until > now)

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class ClientLimit:
    """Requests in flight per client (an API key, or a signed-in user for the Playground), in one
    worker process: `KEY_MAX_CONCURRENCY` at most, 0 for no cap. Why: node slots are shared, and
    without a cap one key could hold all of them (streams it never reads, or just many at once) and
    leave every other client waiting. A stream counts until it ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, client: str) -> bool:
        """Count one more request of `client`; False (and nothing counted) when it is at the limit."""
        with self._lock:
            active = self._active.get(client, 0)
            if self.limit and active >= self.limit:
                return False
            self._active[client] = active + 1
            return True

    def leave(self, client: str) -> None:
        with self._lock:
            active = self._active.get(client, 0) - 1
            if active > 0:
                self._active[client] = active
            else:
                self._active.pop(client, None)

    def active(self, client: str) -> int:
        with self._lock:
            return self._active.get(client, 0)
