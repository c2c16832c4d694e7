"""The Hub statistics cache file as several gunicorn workers open it at once (app/services/catalog/hub_stats.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from app.services.catalog.hub_stats import HubStatsCache

WORKERS = 6
ROUNDS = 40  # without the open lock, about one round in seven lost a worker to 'database is locked'


def _open_cache(cache_path: str, start: multiprocessing.synchronize.Barrier,
                results: multiprocessing.Queue) -> None:
    start.wait()
    try:
        HubStatsCache("http://127.0.0.1:9", cache_path, ttl_seconds=60, timeout_seconds=1)
        results.put("ok")
    except Exception as error:  # reported to the test, which names it
        results.put(repr(error))


def test_workers_booting_together_all_open_the_cache(tmp_path: Path) -> None:
    """CI once lost a router to this: two workers booting at the same moment on a fresh instance,
    one of them failed creating the cache file in WAL mode, and gunicorn shut the router down."""
    context = multiprocessing.get_context("fork")  # workers fork from gunicorn's master the same way
    outcomes = []
    for round_number in range(ROUNDS):
        cache_path = str(tmp_path / f"round-{round_number}" / "hf_cache")
        Path(cache_path).parent.mkdir()
        start, results = context.Barrier(WORKERS), context.Queue()
        processes = [context.Process(target=_open_cache, args=(cache_path, start, results)) for _ in range(WORKERS)]
        for process in processes:
            process.start()
        outcomes += [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
    assert [outcome for outcome in outcomes if outcome != "ok"] == []
