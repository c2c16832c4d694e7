"""Background jobs (APScheduler): work that must stay off the request path.

gunicorn runs several worker processes, each with this scheduler. Every worker refreshes its own
in-memory Hugging Face statistics (cheap: the answers are shared through the requests-cache file).
Node polling (and judging alerts) must happen once per interval, not once per worker: only the
worker holding `instance/scheduler.lock` polls; the others keep trying to take the lock, so when that
worker dies (and the lock with it), another one takes over within a few seconds.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from filelock import FileLock, Timeout
from flask import Flask

log = logging.getLogger(__name__)
HISTORY_PURGE_SECONDS = 600  # the request history's old rows go every 10 minutes, by the poller
LEADER_RETRY_SECONDS = 5.0


def refresh_hub_stats(app: Flask) -> None:
    """Hugging Face statistics for every catalog and URL-registered repo (cached, 10-minute TTL)."""
    with app.app_context():
        from .services.registry import models as registry

        repos = [model.repo for model in registry.catalog()] + [m.repo for m in registry.registered_models()]
        known = registry.hub_stats().refresh(repos)
        log.debug("Hugging Face statistics known for %d of %d repos", known, len(set(repos)))


def _refresh_settings(app: Flask) -> None:
    """The settings page's changes, applied in this process (app/services/settings/store.py)."""
    with app.app_context():
        app.extensions["settings"].check()


def run_in_app(app: Flask, work: Callable[[], object], what: str) -> None:
    """One run of a leader's job in an app context: a failure (a database hiccup) is logged, never
    ends the job; the next run tries again."""
    from .extensions import db

    with app.app_context():
        try:
            work()
        except Exception:  # noqa: BLE001 - the job must go on
            db.session.rollback()
            log.exception("%s failed; the next run tries again", what)
        finally:
            db.session.remove()


def _become_poller(app: Flask, scheduler: BackgroundScheduler, stop: threading.Event) -> None:
    from .services.fleet.polling import poll_job
    from .services.observability.alert_webhook import AlertWebhook
    from .extensions import db
    from .services.observability import alerts, body_search, fleet_samples
    from .services.observability.history import purge_job

    lock = FileLock(str(Path(app.instance_path) / "scheduler.lock"))
    while not stop.is_set():
        try:
            lock.acquire(timeout=0)
        except Timeout:
            stop.wait(LEADER_RETRY_SECONDS)
            continue
        app.extensions["scheduler_lock"] = lock  # held for the life of this process
        scheduler.add_job(poll_job, "interval", args=[app], id="poll_nodes", seconds=app.config["NODE_POLL_SECONDS"],
                          next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True)
        # Alerts are judged by the leader only (one alert per condition, not one per worker), as often as
        # the nodes are polled; its webhook sender lives in this process, made after gunicorn's fork.
        if app.config.get("ALERT_WEBHOOK_URL"):
            app.extensions["alert_webhook"] = AlertWebhook(app.config["ALERT_WEBHOOK_URL"])
        leader_jobs = (("judging alerts", alerts.evaluate, app.config["NODE_POLL_SECONDS"]),
                       ("sampling the fleet for the overview", lambda: fleet_samples.record(db.session),
                        app.config["NODE_POLL_SECONDS"]),
                       ("indexing request bodies for q", body_search.index_pending, body_search.INDEX_SECONDS))
        for what, work, seconds in leader_jobs:
            scheduler.add_job(run_in_app, "interval", args=[app, work, what], id=what, seconds=seconds,
                              max_instances=1, coalesce=True)
        scheduler.add_job(purge_job, "interval", args=[app], id="purge_history", seconds=HISTORY_PURGE_SECONDS,
                          next_run_time=datetime.now(timezone.utc), max_instances=1, coalesce=True)
        log.info("process %d polls the nodes every %s s", os.getpid(), app.config["NODE_POLL_SECONDS"])
        return


def start_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(daemon=True, timezone=timezone.utc)
    scheduler.add_job(refresh_hub_stats, "interval", args=[app], id="refresh_hub_stats",
                      seconds=max(60, app.config["HF_STATS_TTL_SECONDS"]), next_run_time=datetime.now(timezone.utc),
                      max_instances=1, coalesce=True)
    if "settings" in app.extensions:  # a worker that gets no requests (the leader, maybe) follows the settings too
        scheduler.add_job(_refresh_settings, "interval", args=[app], id="refresh_settings", seconds=2,
                          max_instances=1, coalesce=True)
    scheduler.start()
    stop = threading.Event()
    threading.Thread(target=_become_poller, args=(app, scheduler, stop), name="poller-election", daemon=True).start()

    def shut_down() -> None:
        stop.set()
        if scheduler.running:
            scheduler.shutdown(wait=False)

    atexit.register(shut_down)
    return scheduler
