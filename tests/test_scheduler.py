"""Node polling runs in one process only, and moves to another when that one stops."""

from __future__ import annotations

import time

from app import create_app
from app.scheduler import LEADER_RETRY_SECONDS
from tests.support.factories import router_config


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def polls(app) -> bool:
    return app.extensions["scheduler"].get_job("poll_nodes") is not None


def test_one_poller_among_workers_and_takeover(tmp_path, hub):
    config = router_config(tmp_path, hub.url, SCHEDULER_ENABLED=True, NODE_POLL_SECONDS=3600.0)
    first, second = create_app(config), create_app(config)
    try:
        assert wait_for(lambda: polls(first) or polls(second), 2)
        time.sleep(0.3)
        assert [polls(first), polls(second)].count(True) == 1
        leader, follower = (first, second) if polls(first) else (second, first)
        leader.extensions["scheduler"].shutdown(wait=False)
        leader.extensions.pop("scheduler_lock").release()  # as when the worker process exits
        assert wait_for(lambda: polls(follower), LEADER_RETRY_SECONDS + 2)
    finally:
        for app in (first, second):
            if app.extensions["scheduler"].running:
                app.extensions["scheduler"].shutdown(wait=False)
