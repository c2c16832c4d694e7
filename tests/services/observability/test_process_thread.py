"""The per-process daemon thread (app/services/observability/process_thread.py): started once however often
`ensure` is called, even at the same moment from many threads; ended by `join`; and, after a fork, gone in
the child, which starts its own."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from app.services.observability.process_thread import ProcessThread

BOUND_SECONDS = 10.0  # the most any wait here takes; each ends as soon as its condition holds


class Worker:
    """A thread target that notes each run (thread, process) and runs until told to stop."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.runs: list[tuple[threading.Thread, int]] = []

    def __call__(self) -> None:
        self.runs.append((threading.current_thread(), os.getpid()))
        self.stop.wait()


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + BOUND_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def worker() -> Iterator[Worker]:
    target = Worker()
    yield target
    target.stop.set()  # whatever the test did, its threads end


def test_ensure_starts_the_thread_once(worker: Worker):
    thread = ProcessThread(worker, "test-thread")
    assert not thread.running_here
    thread.ensure()
    assert thread.running_here
    assert wait_until(lambda: len(worker.runs) == 1)
    started, pid = worker.runs[0]
    assert started.name == "test-thread" and started.daemon and pid == os.getpid()
    thread.ensure()
    thread.ensure()
    assert started.is_alive() and len(worker.runs) == 1  # still the first one, no other


def test_join_ends_it_and_a_later_ensure_starts_another(worker: Worker):
    thread = ProcessThread(worker, "test-thread")
    thread.join(0.1)  # nothing started: nothing to wait for
    thread.ensure()
    assert wait_until(lambda: len(worker.runs) == 1)
    worker.stop.set()  # what the owner does before joining (the history writer's close)
    thread.join(BOUND_SECONDS)
    assert not worker.runs[0][0].is_alive() and not thread.running_here
    worker.stop.clear()
    thread.ensure()
    assert wait_until(lambda: len(worker.runs) == 2)
    assert worker.runs[1][0] is not worker.runs[0][0] and worker.runs[1][0].is_alive()


def test_ensure_from_many_threads_at_once_starts_one(worker: Worker):
    thread = ProcessThread(worker, "test-thread")
    callers = 8
    barrier = threading.Barrier(callers)

    def call() -> None:
        barrier.wait()
        thread.ensure()

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for caller in threads:
        caller.start()
    for caller in threads:
        caller.join(BOUND_SECONDS)
    assert thread.running_here
    assert wait_until(lambda: len(worker.runs) >= 1)
    worker.stop.set()
    thread.join(BOUND_SECONDS)
    assert len(worker.runs) == 1


def test_a_forked_child_starts_its_own(worker: Worker):
    """The child reports through a pipe and leaves with os._exit (never back into pytest)."""
    thread = ProcessThread(worker, "test-thread")
    thread.ensure()
    assert wait_until(lambda: len(worker.runs) == 1)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(read_end)
            inherited = thread.running_here
            thread.ensure()
            started = wait_until(lambda: any(pid == os.getpid() for _thread, pid in worker.runs))
            report = {"inherited": inherited, "running": thread.running_here, "started": started,
                      "runs": len(worker.runs)}
            os.write(write_end, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report
    # The parent's thread did not come along: the child started its own, which ran there.
    assert json.loads(report) == {"inherited": False, "running": True, "started": True, "runs": 2}
    assert thread.running_here and len(worker.runs) == 1  # the parent's own is untouched
