"""Brute-force guard for logins: failures are counted per user name and per client address.

After `LOGIN_SLOWDOWN_AFTER` failures in a row, each further attempt must wait a growing delay
(1 s, 2 s, 4 s ... up to 60 s); after `LOGIN_LOCK_AFTER`, logins for that name or address are locked
for `LOGIN_LOCK_SECONDS`. The counters live in the database so every worker sees them. A refused
attempt is answered at once with 429 and Retry-After: no thread sleeps.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete

from ..errors import ApiError
from ..extensions import db
from ..models import LoginFailures, as_utc, utcnow

log = logging.getLogger(__name__)
MAX_DELAY_SECONDS = 60


def guard_keys(username: str, address: str | None) -> list[str]:
    return [f"user:{(username or '').lower()[:100]}", f"addr:{address or 'unknown'}"]


def _wait_until(entry: LoginFailures) -> datetime | None:
    config = current_app.config
    if entry.locked_until is not None:
        return as_utc(entry.locked_until)
    beyond = entry.failures - config["LOGIN_SLOWDOWN_AFTER"]
    if beyond < 0:
        return None
    return as_utc(entry.last_failure_at) + timedelta(seconds=min(MAX_DELAY_SECONDS, 2 ** beyond))


def check_allowed(keys: list[str]) -> None:
    """429 with Retry-After when any key must still wait or is locked."""
    now = utcnow()
    for key in keys:
        entry = db.session.get(LoginFailures, key)
        until = _wait_until(entry) if entry else None
        if until is None or until <= now:
            continue
        seconds = max(1, math.ceil((until - now).total_seconds()))
        if entry.locked_until is not None:
            message = _("Too many failed logins: locked for %(minutes)d more minutes. Try again later or ask an "
                        "admin.", minutes=max(1, math.ceil(seconds / 60)))
        else:
            message = _("Too many failed logins: wait %(seconds)d seconds before trying again.", seconds=seconds)
        raise ApiError(429, "too_many_login_attempts", message, headers={"Retry-After": str(seconds)})


def record_failure(keys: list[str]) -> None:
    now = utcnow()
    config = current_app.config
    for key in keys:
        entry = db.session.get(LoginFailures, key)
        if entry is None or (entry.locked_until is not None and as_utc(entry.locked_until) <= now):
            entry = db.session.merge(LoginFailures(key=key, failures=0, last_failure_at=now, locked_until=None))
        entry.failures += 1
        entry.last_failure_at = now
        if entry.failures >= config["LOGIN_LOCK_AFTER"] and entry.locked_until is None:
            entry.locked_until = now + timedelta(seconds=config["LOGIN_LOCK_SECONDS"])
            log.warning("logins for %s locked for %d s after %d failures", key, config["LOGIN_LOCK_SECONDS"],
                        entry.failures)
    db.session.commit()


def record_success(keys: list[str]) -> None:
    db.session.execute(delete(LoginFailures).where(LoginFailures.key.in_(keys)))
    db.session.commit()
