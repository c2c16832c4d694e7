"""Background jobs (APScheduler): work that must stay off the request path."""

from __future__ import annotations

import atexit
import logging
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

log = logging.getLogger(__name__)


def refresh_hub_stats(app: Flask) -> None:
    """Hugging Face statistics for every catalog and URL-registered repo (cached, 10-minute TTL)."""
    with app.app_context():
        from .services import registry

        repos = [model.repo for model in registry.catalog()] + [m.repo for m in registry.registered_models()]
        known = registry.hub_stats().refresh(repos)
        log.debug("Hugging Face statistics known for %d of %d repos", known, len(set(repos)))


def start_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(daemon=True, timezone=timezone.utc)
    scheduler.add_job(refresh_hub_stats, "interval", args=[app], id="refresh_hub_stats",
                      seconds=max(60, app.config["HF_STATS_TTL_SECONDS"]), next_run_time=datetime.now(timezone.utc),
                      max_instances=1, coalesce=True)
    from .services.nodes import poll_job

    scheduler.add_job(poll_job, "interval", args=[app], id="poll_nodes", seconds=app.config["NODE_POLL_SECONDS"],
                      max_instances=1, coalesce=True)
    scheduler.start()
    atexit.register(lambda: scheduler.shutdown(wait=False))
    return scheduler
